/**
 * The coordinator's HTTP API (fastify). JSON in and out; every /v1 route needs
 * `Authorization: Bearer <token>`; errors are `{ error: StrataErrorJSON }` with a 4xx/5xx status.
 *
 *   POST /v1/jobs               { spec: JobSpec }  → 201 JobStatus   (400 bad spec, dataset, dates, bundle)
 *   GET  /v1/jobs[?limit=N]     → { jobs: JobStatus[] }, newest first
 *   GET  /v1/jobs/:id[?tasks=1] → JobStatus (404 STRATA_E_JOB_NOT_FOUND)
 *   POST /v1/jobs/:id/cancel    → JobStatus (a finished job is answered as it is)
 *   POST   /v1/realtime/views   { spec, everyMs } → 201 { registration, job }  (the first recomputation)
 *   GET    /v1/realtime/views   → { views: RealtimeRegistration[] }
 *   DELETE /v1/realtime/views/:view               → { view, removed }
 *   POST   /v1/realtime/views/:view/recompute     → 201 JobStatus   (what strata batch asks for)
 *   PUT    /v1/realtime/views/:view/cadence  { everyMs } → RealtimeRegistration
 *   GET  /healthz  /readyz  /metrics   (no token: for probes and Prometheus)
 *
 *   const app = buildHttpApi({ service, token, metrics, ready: async () => (await redis.ping()) === 'PONG' });
 *   await app.listen({ host: '127.0.0.1', port: 0 });
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { bearerTokenCheck } from '../core/bearer-token.ts';
import { isStrataError, publicJSON, StrataError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { CoordinatorMetrics } from './coordinator-metrics.ts';
import { VIEW_NAME_PATTERN } from '../core/views/view-layout.ts';
import type { JobService } from './job-service.ts';
import type { RealtimeBatches } from './realtime-batches.ts';

export interface HttpApiOptions {
  service: JobService;
  token: string;
  metrics: CoordinatorMetrics;
  /** True when the coordinator can serve (Redis answers). */
  ready: () => Promise<boolean>;
  log?: Logger;
  /** Largest request body, bytes. Default 1 MiB (a spec is a few hundred bytes). */
  bodyLimit?: number;
  realtime?: RealtimeBatches;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  STRATA_E_AUTH: 401,
  STRATA_E_JOB_NOT_FOUND: 404,
  STRATA_E_USAGE: 400,
  STRATA_E_JOB_DEFINITION: 400,
  STRATA_E_DATASET_NOT_FOUND: 400,
  STRATA_E_DATASET_NAME: 400,
  STRATA_E_DATE_RANGE: 400,
  STRATA_E_BUNDLE: 400,
  STRATA_E_VIEW_NAME: 400,
  STRATA_E_REALTIME_JOB: 400,
  STRATA_E_REALTIME_NOT_REGISTERED: 404,
  STRATA_E_SPEED_IN_FLIGHT: 503,
  STRATA_E_REDIS_UNAVAILABLE: 503,
  STRATA_E_STORE_UNAVAILABLE: 503,
};

const JOB_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function buildHttpApi(opts: HttpApiOptions): FastifyInstance {
  const { service, metrics } = opts;
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const app = Fastify({ logger: false, bodyLimit });

  // Our own JSON parser: an empty body is no body (POST …/cancel), and bad JSON is a StrataError.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit },
    (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(
          new StrataError(
            'STRATA_E_USAGE',
            `the request body is not JSON (${(err as Error).message})`,
          ),
          undefined,
        );
      }
    },
  );

  const checkToken = bearerTokenCheck(opts.token);
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/v1/') || req.url === '/v1') checkToken(req.headers.authorization);
  });

  app.setErrorHandler((err: FastifyError | StrataError, _req, reply) => {
    const e = asStrataError(err);
    const status = isStrataError(err) ? (STATUS[e.code] ?? 500) : (err.statusCode ?? 500);
    if (status >= 500) opts.log?.error({ err }, 'request failed');
    if (
      status >= 400 &&
      status < 500 &&
      e.code !== 'STRATA_E_AUTH' &&
      e.code !== 'STRATA_E_JOB_NOT_FOUND'
    )
      metrics.jobsRejected.inc({ code: e.code });
    void reply.status(status).send({ error: publicJSON(e) });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: publicJSON(
        new StrataError(
          'STRATA_E_USAGE',
          `no route ${req.method} ${req.url}; see GET /v1/jobs, POST /v1/jobs, GET /v1/jobs/:id, POST /v1/jobs/:id/cancel`,
        ),
      ),
    });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await opts.ready().catch(() => false);
    if (!ok)
      return reply.status(503).send({
        error: publicJSON(
          new StrataError('STRATA_E_REDIS_UNAVAILABLE', 'the coordinator cannot reach Redis'),
        ),
      });
    return { ok: true };
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.post('/v1/jobs', async (req, reply) => {
    const body = req.body as { spec?: unknown } | undefined;
    if (typeof body !== 'object' || body === null || !('spec' in body)) {
      throw new StrataError(
        'STRATA_E_USAGE',
        'POST /v1/jobs takes a JSON body { "spec": JobSpec } (strata submit builds it from your job file)',
      );
    }
    return reply.status(201).send(await service.submit(body.spec));
  });
  app.get('/v1/jobs', async (req) => {
    const limit = Number((req.query as { limit?: string }).limit ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new StrataError(
        'STRATA_E_USAGE',
        `limit must be a whole number from 1 to 1000; got ${(req.query as { limit?: string }).limit}`,
      );
    return { jobs: await service.list({ limit }) };
  });
  app.get('/v1/jobs/:id', async (req) => {
    const { id } = req.params as { id: string };
    const tasks = (req.query as { tasks?: string }).tasks;
    return service.get(checkId(id), { withTasks: tasks === '1' || tasks === 'true' });
  });
  app.post('/v1/jobs/:id/cancel', async (req) =>
    service.cancel(checkId((req.params as { id: string }).id)),
  );

  // Realtime views: registered jobs the speed layer folds and the batch layer recomputes.
  const realtime = (): RealtimeBatches => {
    if (!opts.realtime)
      throw new StrataError('STRATA_E_USAGE', 'this coordinator runs without realtime views');
    return opts.realtime;
  };
  app.post('/v1/realtime/views', async (req, reply) => {
    const body = req.body as { spec?: unknown; everyMs?: unknown } | undefined;
    if (typeof body !== 'object' || body === null || !('spec' in body)) {
      throw new StrataError(
        'STRATA_E_USAGE',
        'POST /v1/realtime/views takes { "spec": JobSpec, "everyMs": number | null } (strata views register builds it from your job file)',
      );
    }
    return reply
      .status(201)
      .send(await realtime().register(body.spec, { everyMs: everyMsOf(body.everyMs) }));
  });
  app.get('/v1/realtime/views', async () => ({ views: await realtime().list() }));
  app.delete('/v1/realtime/views/:view', async (req) => realtime().unregister(viewOf(req.params)));
  app.post('/v1/realtime/views/:view/recompute', async (req, reply) =>
    reply.status(201).send(await realtime().recompute(viewOf(req.params))),
  );
  app.put('/v1/realtime/views/:view/cadence', async (req) =>
    realtime().setCadence(
      viewOf(req.params),
      everyMsOf((req.body as { everyMs?: unknown } | undefined)?.everyMs),
    ),
  );

  return app;
}

function everyMsOf(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1000)
    throw new StrataError(
      'STRATA_E_USAGE',
      `everyMs must be null or a whole number of milliseconds ≥ 1000; got ${JSON.stringify(v)}`,
    );
  return v;
}

function viewOf(params: unknown): string {
  const { view } = params as { view: string };
  if (!VIEW_NAME_PATTERN.test(view))
    throw new StrataError(
      'STRATA_E_VIEW_NAME',
      `${JSON.stringify(view.slice(0, 80))} is not a view name`,
      { details: { view: view.slice(0, 80) } },
    );
  return view;
}

function checkId(id: string): string {
  if (!JOB_ID.test(id))
    throw new StrataError(
      'STRATA_E_JOB_NOT_FOUND',
      `${JSON.stringify(id.slice(0, 80))} is not a job id; list jobs with GET /v1/jobs`,
      { details: { jobId: id.slice(0, 80) } },
    );
  return id;
}

function asStrataError(err: FastifyError | StrataError): StrataError {
  if (isStrataError(err)) return err;
  const status = err.statusCode ?? 500;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new StrataError(
      'STRATA_E_USAGE',
      `the request body is too large (${err.message}); a job spec is a few hundred bytes`,
    );
  if (status < 500)
    return new StrataError('STRATA_E_USAGE', `bad request: ${err.message}`, {
      details: { fastifyCode: err.code },
    });
  return new StrataError('STRATA_E_INTERNAL', err.message, { cause: err });
}
