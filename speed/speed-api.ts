/**
 * The speed layer's HTTP API (fastify). Every /v1 route needs `Authorization: Bearer <token>`;
 * errors are `{ error: StrataErrorJSON }`.
 *
 *   POST /v1/datasets/:dataset/records[?timeField=time][&defaultTime=now]
 *        Content-Type: application/x-ndjson (one JSON object per line) or application/json (an array)
 *        → 200 { records, commitId, bucket, segments }   once the records are durable (and folded)
 *        → 400 a bad record (index, line, reason; nothing stored) or dataset name · 401 token
 *        → 413 body over speedBodyLimitBytes · 415 other content types · 503 commit failed / stopping
 *   GET  /healthz  /readyz  /metrics   (no token)
 *
 *   const app = buildSpeedApi({ token, bodyLimit, metrics, ready: () => true, parse: (b, f, o) => parser.parse(b, f, o), ingest: (ds, batch) => committer.submit(batch) });
 *   await app.listen({ host: '127.0.0.1', port: 0 });
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { assertDatasetName } from '../core/dataset/dataset-name.ts';
import { bearerTokenCheck } from '../core/bearer-token.ts';
import { isStrataError, publicJSON, StrataError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { CommitAck } from './group-commit.ts';
import type { BodyFormat, RecordBatch, RecordBatchOptions } from './record-batch.ts';
import type { SpeedMetrics } from './speed-metrics.ts';

export interface SpeedApiOptions {
  token: string;
  /** config.speedBodyLimitBytes */
  bodyLimit: number;
  metrics: SpeedMetrics;
  /** True once recovery is done and the lease is held. */
  ready: () => boolean | Promise<boolean>;
  /** Parses and validates a body (record-parser.ts: on a parse thread or this one). */
  parse: (
    body: Uint8Array,
    format: BodyFormat,
    options: RecordBatchOptions,
  ) => Promise<RecordBatch>;
  /** Queues a validated batch for its dataset's group commit; resolves with the acknowledgement. */
  ingest: (dataset: string, batch: RecordBatch) => Promise<CommitAck>;
  log?: Logger;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  STRATA_E_AUTH: 401,
  STRATA_E_USAGE: 400,
  STRATA_E_RECORD_INVALID: 400,
  STRATA_E_DATASET_NAME: 400,
  STRATA_E_REQUEST_TOO_LARGE: 413,
  STRATA_E_SPEED_UNAVAILABLE: 503,
  STRATA_E_SPEED_LEADER: 503,
  STRATA_E_REDIS_UNAVAILABLE: 503,
  STRATA_E_STORE_UNAVAILABLE: 503,
};

const FORMATS: Record<string, BodyFormat> = {
  'application/x-ndjson': 'ndjson',
  'application/json': 'json',
};

export function buildSpeedApi(opts: SpeedApiOptions): FastifyInstance {
  const { metrics, bodyLimit } = opts;
  const app = Fastify({ logger: false, bodyLimit });

  // Only our two media types; both arrive as bytes and are parsed in the route (maybe on a parse
  // thread), where a bad record can be named by its index and line.
  app.removeAllContentTypeParsers();
  for (const type of Object.keys(FORMATS))
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
      done(null, body),
    );
  const { parse } = opts;

  const checkToken = bearerTokenCheck(opts.token);
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/v1/')) checkToken(req.headers.authorization);
  });
  app.addHook('onResponse', async (_req, reply) => {
    metrics.requests.inc({ status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: FastifyError | StrataError, _req, reply) => {
    const { error, status } = asStrataError(err, bodyLimit);
    if (status >= 500) opts.log?.warn({ err }, 'ingest request failed');
    void reply.status(status).send({ error: publicJSON(error) });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: publicJSON(
        new StrataError(
          'STRATA_E_USAGE',
          `no route ${req.method} ${req.url}; ingest with POST /v1/datasets/:dataset/records`,
        ),
      ),
    });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    if (await Promise.resolve(opts.ready()).catch(() => false)) return { ok: true };
    return reply.status(503).send({
      error: publicJSON(
        new StrataError(
          'STRATA_E_SPEED_UNAVAILABLE',
          'the speed layer is starting (recovering unfinished commits) or stopping',
        ),
      ),
    });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.post('/v1/datasets/:dataset/records', async (req) => {
    const { dataset } = req.params as { dataset: string };
    assertDatasetName(dataset);
    const query = req.query as { timeField?: string; defaultTime?: string };
    if (query.defaultTime !== undefined && query.defaultTime !== 'now')
      throw new StrataError(
        'STRATA_E_USAGE',
        `defaultTime must be "now" (stamp records that lack the time field with the ingest time), got ${JSON.stringify(query.defaultTime)}`,
      );
    const format = FORMATS[mediaType(req.headers['content-type'])];
    if (!format)
      throw new StrataError(
        'STRATA_E_USAGE',
        'send the records as application/x-ndjson or application/json',
      );
    const body = (req.body as Uint8Array | undefined) ?? new Uint8Array(0);
    const batch = await parse(body, format, {
      timeField: query.timeField || 'time',
      ...(query.defaultTime === 'now' ? { defaultTime: Date.now() } : {}),
    });
    return opts.ingest(dataset, batch);
  });

  return app;
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function asStrataError(
  err: FastifyError | StrataError,
  bodyLimit: number,
): { error: StrataError; status: number } {
  if (isStrataError(err)) return { error: err, status: STATUS[err.code] ?? 500 };
  const status = err.statusCode ?? 500;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      error: new StrataError(
        'STRATA_E_REQUEST_TOO_LARGE',
        `the request body is larger than the limit of ${formatLimit(bodyLimit)} (STRATA_SPEED_BODY_LIMIT_BYTES); send the records in smaller batches`,
        { details: { limit: bodyLimit } },
      ),
    };
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return {
      status: 415,
      error: new StrataError(
        'STRATA_E_USAGE',
        `${err.message}; send the records as application/x-ndjson (one JSON object per line) or application/json (an array of objects)`,
        { details: { fastifyCode: err.code } },
      ),
    };
  }
  if (status < 500)
    return {
      status,
      error: new StrataError('STRATA_E_USAGE', `bad request: ${err.message}`, {
        details: { fastifyCode: err.code },
      }),
    };
  return { status: 500, error: new StrataError('STRATA_E_INTERNAL', err.message, { cause: err }) };
}

function formatLimit(n: number): string {
  return n % (1024 * 1024) === 0
    ? `${n / (1024 * 1024)} MiB`
    : n % 1024 === 0
      ? `${n / 1024} KiB`
      : `${n} bytes`;
}
