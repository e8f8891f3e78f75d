/**
 * The view server's HTTP API (fastify): read-only, no route writes anything. JSON by default,
 * msgpack with `Accept: application/msgpack`. Every answer from a view names the version it
 * came from (`version` in the body and a `strata-view-version` header); errors are
 * `{ error: StrataErrorJSON }`. Key syntax: see request-keys.ts.
 *
 *   GET  /v1/views                          { views: [{ view, version, previous?, versions, … }] }
 *   GET  /v1/views/:view                    one of those (404 STRATA_E_VIEW_NOT_FOUND)
 *   GET  /v1/views/:view/get/<part>/<part>  { view, version, key, value }   (404 STRATA_E_KEY_NOT_FOUND)
 *   GET  /v1/views/:view/get?key=<JSON>     the same, with exact types
 *   POST /v1/views/:view/get  [key, …] or { keys: [key, …] }  (≤ maxKeys, else 413)
 *                                           { view, version, values: [v | null…], missing: [index…] }
 *   GET  /v1/views/:view/scan[/<part>…][?prefix=<JSON>&limit=N&cursor=C]
 *                                           { view, version, entries: [[key, value]…], cursor? }
 *   GET  /v1/views/:view/changes            server-sent events: changed keys, new versions (live-changes.ts)
 *
 * A realtime view (registered with strata views register) answers batch ⊕ realtime and adds
 * `sources` ({ batch, realtime, boundary, buckets }: how much came from each; realtime-merge.ts).
 *   GET  /healthz  /readyz  /metrics
 *
 *   const app = buildViewServerApi({ registry, metrics, ready: () => true });
 *   await app.listen({ host: '127.0.0.1', port: 0 });
 */
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Packr } from 'msgpackr';
import { isStrataError, publicJSON, StrataError, type ErrorCode } from '../core/errors.ts';
import type { KeyPart } from '../core/keys/key-codec.ts';
import type { Logger } from '../core/log.ts';
import { VIEW_NAME_PATTERN } from '../core/views/view-layout.ts';
import type { LiveChanges } from './live-changes.ts';
import type { LoadedVersion } from './loaded-version.ts';
import type { RealtimeMerge } from './realtime-merge.ts';
import { checkKey, decodeCursor, encodeCursor, jsonKeyParam, pathParts } from './request-keys.ts';
import type { ServeMetrics } from './serve-metrics.ts';
import type { ViewRegistry } from './view-registry.ts';

export interface ViewServerApiOptions {
  registry: ViewRegistry;
  metrics: ServeMetrics;
  ready: () => boolean;
  log?: Logger;
  /** Most keys in one multi-get. Default 1000. */
  maxKeys?: number;
  /** Most entries in one scan page. Default 1000 (and 100 when no limit is given). */
  maxScanLimit?: number;
  /** Largest request body, bytes. Default 1 MiB. */
  bodyLimit?: number;
  /** Longest request URL, bytes (414 beyond). Default 8 KiB. */
  maxUrlBytes?: number;
  /** Server-sent events of changed keys (GET /v1/views/:view/changes). */
  live?: LiveChanges;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  STRATA_E_USAGE: 400,
  STRATA_E_KEY_INVALID: 400,
  STRATA_E_VIEW_NAME: 400,
  STRATA_E_VIEW_NOT_FOUND: 404,
  STRATA_E_KEY_NOT_FOUND: 404,
  STRATA_E_REQUEST_TOO_LARGE: 413,
  STRATA_E_REALTIME_STATE: 503,
};

const MSGPACK = 'application/msgpack';
const packr = new Packr({ useRecords: false });

export function buildViewServerApi(opts: ViewServerApiOptions): FastifyInstance {
  const { registry, metrics } = opts;
  const maxKeys = opts.maxKeys ?? 1000;
  const maxScanLimit = opts.maxScanLimit ?? 1000;
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const maxUrlBytes = opts.maxUrlBytes ?? 8 * 1024;
  // maxParamLength: a long view name must reach our check (400), not fall through to "no route".
  const app = Fastify({
    logger: false,
    bodyLimit,
    routerOptions: { maxParamLength: 2048 },
    // A URL fastify cannot decode (bad percent-encoding) gets our error body too.
    frameworkErrors: (err, req, reply) =>
      send(req, (reply as FastifyReply).status(400), {
        error: publicJSON(
          new StrataError(
            'STRATA_E_KEY_INVALID',
            `the request path is not valid percent-encoded UTF-8 (${err.message}); encode each part with encodeURIComponent`,
          ),
        ),
      }),
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit },
    (_req, body, done) => {
      try {
        done(null, JSON.parse(String(body)));
      } catch (err) {
        done(
          new StrataError(
            'STRATA_E_USAGE',
            `the request body is not JSON (${(err as Error).message}); send a JSON array of keys`,
          ),
          undefined,
        );
      }
    },
  );
  app.addContentTypeParser('*', (_req, _payload, done) =>
    done(
      new StrataError('STRATA_E_USAGE', 'send request bodies as Content-Type: application/json'),
      undefined,
    ),
  );

  // Callback-style hooks: an async hook costs a promise and a microtask hop on every request.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.url.length > maxUrlBytes) {
      done(
        withStatus(
          new StrataError(
            'STRATA_E_REQUEST_TOO_LARGE',
            `the request URL is ${req.url.length} bytes, over the limit of ${maxUrlBytes}; send long keys with POST /v1/views/:view/get`,
          ),
          414,
        ),
      );
      return;
    }
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((err: FastifyError | StrataError, req, reply) => {
    const e = asStrataError(err);
    const status = (e as { statusCode?: number }).statusCode ?? STATUS[e.code] ?? 500;
    if (status >= 500) opts.log?.error({ err, url: req.url.slice(0, 200) }, 'request failed');
    const version = (e.details as { version?: string } | undefined)?.version;
    if (version) void reply.header('strata-view-version', version);
    return send(req, reply.status(status), { error: publicJSON(e) });
  });
  app.setNotFoundHandler((req, reply) =>
    send(req, reply.status(404), {
      error: publicJSON(
        new StrataError(
          'STRATA_E_USAGE',
          `no route ${req.method} ${req.url.slice(0, 200)}; the view server is read-only: GET /v1/views, GET /v1/views/:view/get/<key…>, POST /v1/views/:view/get, GET /v1/views/:view/scan`,
        ),
      ),
    }),
  );

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (req, reply) =>
    opts.ready()
      ? { ok: true }
      : send(req, reply.status(503), {
          error: publicJSON(
            new StrataError(
              'STRATA_E_VIEW_NOT_FOUND',
              'the view server is still loading the current versions of its views',
            ),
          ),
        }),
  );
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.get('/v1/views', async (req, reply) => send(req, reply, { views: registry.list() }));
  app.get('/v1/views/:view', async (req, reply) => {
    const view = viewParam(req);
    const summary = registry.list().find((s) => s.view === view);
    if (!summary) throw notFound(view);
    return send(req, reply, summary);
  });

  const getOne = async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as { key?: string; string?: string };
    const key =
      q.key !== undefined
        ? jsonKeyParam('key', q.key, false)
        : pathParts(req.url, '/get/', flag(q.string));
    if (key.length === 0)
      throw new StrataError(
        'STRATA_E_KEY_INVALID',
        'name a key: /v1/views/:view/get/<part>/<part>… or ?key=<JSON array>',
      );
    return withVersion(req, reply, async (v, rt) => {
      const missing = () =>
        new StrataError(
          'STRATA_E_KEY_NOT_FOUND',
          `view "${v.view}" (version ${v.version}) has no key ${JSON.stringify(key)}`,
          { details: { view: v.view, version: v.version, key } },
        );
      if (rt) {
        const answer = await rt.get(v, key);
        if (!answer) throw missing();
        return {
          view: v.view,
          version: v.version,
          key,
          value: answer.value,
          sources: answer.sources,
        };
      }
      const value = await v.get(key);
      if (value === undefined) throw missing();
      return { view: v.view, version: v.version, key, value };
    });
  };
  app.get('/v1/views/:view/get', getOne);
  app.get('/v1/views/:view/get/*', getOne);

  app.post('/v1/views/:view/get', async (req, reply) => {
    const body = req.body as unknown;
    const list = Array.isArray(body)
      ? body
      : typeof body === 'object' &&
          body !== null &&
          Array.isArray((body as { keys?: unknown }).keys)
        ? (body as { keys: unknown[] }).keys
        : undefined;
    if (!list)
      throw new StrataError(
        'STRATA_E_USAGE',
        'POST /v1/views/:view/get takes a JSON array of keys, such as [["/home",1],["/about",2]], or { "keys": [...] }',
      );
    if (list.length > maxKeys)
      throw new StrataError(
        'STRATA_E_REQUEST_TOO_LARGE',
        `a multi-get may ask for at most ${maxKeys} keys; got ${list.length}: split it into several requests`,
        { details: { keys: list.length, maxKeys } },
      );
    const keys = list.map((k, i) => checkKey(k, false, `key ${i}`));
    return withVersion(req, reply, async (v, rt) => {
      const answers = rt ? await rt.getMany(v, keys) : undefined;
      const found = answers
        ? answers.map((a) => a?.value)
        : await Promise.all(keys.map((k) => v.get(k)));
      const missing: number[] = [];
      found.forEach((x, i) => x === undefined && missing.push(i));
      const values = found.map((x) => (x === undefined ? null : x));
      return {
        view: v.view,
        version: v.version,
        values,
        missing,
        ...(answers ? { sources: answers.map((a) => a?.sources ?? null) } : {}),
      };
    });
  });

  app.get('/v1/views/:view/changes', async (req, reply) => {
    const view = viewParam(req);
    const v = registry.acquire(view);
    if (!v) throw notFound(view);
    const version = v.version;
    v.release();
    if (!opts.live)
      throw new StrataError(
        'STRATA_E_USAGE',
        'this view server was built without live updates; poll GET /v1/views/:view/get instead',
      );
    reply.hijack();
    opts.live.open(view, version, reply.raw);
  });

  const scan = async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as { prefix?: string; limit?: string; cursor?: string; string?: string };
    const prefix: KeyPart[] =
      q.prefix !== undefined
        ? jsonKeyParam('prefix', q.prefix, true)
        : pathParts(req.url, '/scan/', flag(q.string));
    if (prefix.length > 0) checkKey(prefix, false, 'the prefix');
    const limit = q.limit === undefined ? Math.min(100, maxScanLimit) : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxScanLimit)
      throw new StrataError(
        'STRATA_E_USAGE',
        `limit must be a whole number from 1 to ${maxScanLimit}; got ${JSON.stringify(q.limit)}`,
      );
    const after = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    return withVersion(req, reply, async (v, rt) => {
      const page = rt ? await rt.scan(v, prefix, limit, after) : await v.scan(prefix, limit, after);
      return {
        view: v.view,
        version: v.version,
        entries: page.entries,
        ...('sources' in page ? { sources: page.sources } : {}),
        ...(page.last ? { cursor: encodeCursor(page.last) } : {}),
      };
    });
  };
  app.get('/v1/views/:view/scan', scan);
  app.get('/v1/views/:view/scan/*', scan);

  /**
   * Runs `answer` on the view's current version, held for the whole request, with its realtime
   * merge when it is a realtime view.
   */
  async function withVersion(
    req: FastifyRequest,
    reply: FastifyReply,
    answer: (v: LoadedVersion, rt: RealtimeMerge | undefined) => Promise<unknown>,
  ): Promise<FastifyReply> {
    const view = viewParam(req);
    const v = registry.acquire(view);
    if (!v) throw notFound(view);
    try {
      const how = registry.realtimeOf(v);
      if (how === 'unavailable') {
        throw new StrataError(
          'STRATA_E_REALTIME_STATE',
          `view "${view}" is a realtime view and this server has no Redis connection for its realtime part; start strata serve with the cluster's Redis URL (--redis)`,
          { details: { view, version: v.version } },
        );
      }
      const body = await answer(v, how === 'batch' ? undefined : how);
      void reply.header('strata-view-version', v.version);
      return send(req, reply, body);
    } finally {
      v.release();
    }
  }

  return app;
}

function viewParam(req: FastifyRequest): string {
  const { view } = req.params as { view: string };
  // Checked before anything else: `..`, `%2e%2e`, slashes and the like never reach the registry or
  // the store.
  if (!VIEW_NAME_PATTERN.test(view)) {
    throw new StrataError(
      'STRATA_E_VIEW_NAME',
      `${JSON.stringify(view.slice(0, 80))} is not a view name: use [a-z0-9][a-z0-9_-]*, at most 64 characters; GET /v1/views lists them`,
      { details: { view: view.slice(0, 80) } },
    );
  }
  return view;
}

function notFound(view: string): StrataError {
  return new StrataError(
    'STRATA_E_VIEW_NOT_FOUND',
    `this server has no view "${view}"; GET /v1/views lists the views it serves (a view just published appears within a few seconds)`,
    { details: { view } },
  );
}

function flag(v: string | undefined): boolean {
  return v === '1' || v === 'true' || v === '';
}

function send(req: FastifyRequest, reply: FastifyReply, body: unknown): FastifyReply {
  if ((req.headers.accept ?? '').includes(MSGPACK))
    return reply.type(MSGPACK).send(packr.pack(body));
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
}

function withStatus(e: StrataError, statusCode: number): StrataError {
  return Object.assign(e, { statusCode });
}

function asStrataError(err: FastifyError | StrataError): StrataError {
  if (isStrataError(err)) return err;
  const status = err.statusCode ?? 500;
  if (status === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return withStatus(
      new StrataError(
        'STRATA_E_REQUEST_TOO_LARGE',
        `the request body is too large (${err.message}); split a multi-get into several requests`,
      ),
      413,
    );
  if (status < 500)
    return withStatus(
      new StrataError('STRATA_E_USAGE', `bad request: ${err.message}`, {
        details: { fastifyCode: err.code },
      }),
      status,
    );
  return new StrataError('STRATA_E_INTERNAL', err.message, { cause: err });
}
