/**
 * The view server's read API over views published in a file store the way the coordinator
 * commits them: answers equal the views' contents, the key syntax matches `strata get`, scans
 * page with a cursor, msgpack on request, and hostile requests get a 4xx while the server stays up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { compareKeys, type KeyPart } from '../../core/keys/key-codec.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { startViewServer, type ViewServer } from '../../serving/start-view-server.ts';
import { publishView, type Row } from '../cli/fixtures/publish-view.ts';

let dir: string;
let store: ObjectStore;
let server: ViewServer;

const hits: Row[] = [];
for (let u = 0; u < 200; u++)
  for (let h = 0; h < 10; h++) hits.push([[`/page/${u}`, h], { n: u * 100 + h, u: `/page/${u}` }]);
const sortedHits = [...hits].sort((a, b) => compareKeys(a[0], b[0]));
const typed: Row[] = [
  [[7], 'number seven'],
  [['7'], 'string seven'],
  [['02139'], 'zip'],
  [['a/b', 'c d'], 'slash and space'],
  [['é', -1.5], 'unicode'],
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-serve-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
  await publishView(
    store,
    'hits',
    hits.map(([k, v]) => [k, { old: v }]),
    { partitions: 4, version: 'v0000000000001-old' },
  );
  await publishView(store, 'hits', hits, { partitions: 4, version: 'v0000000000002-new' });
  await publishView(store, 'typed', typed, { partitions: 3, version: 'v0000000000003-t' });
  const config = loadConfig({
    env: {},
    cwd: dir,
    overrides: { store: `file://${path.join(dir, 'store')}`, servePort: 0 },
  });
  server = await startViewServer(config, { store });
});
afterAll(async () => {
  await server?.stop();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(
  p: string,
  init: RequestInit = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  // fetch resolves dot segments (%2e%2e too) before sending: such paths go out as written instead.
  const res = /\/\.|%2e/i.test(p) ? await rawGet(p) : await fetch(server.url + p, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

/** A GET whose path is sent byte for byte, dot segments and all. */
function rawGet(p: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}/`, { path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve(
          new Response(Buffer.concat(chunks), {
            status: res.statusCode!,
            headers: res.headers as Record<string, string>,
          }),
        ),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const pathOf = (key: KeyPart[]) =>
  key
    .map((p) =>
      encodeURIComponent(
        typeof p === 'string' && /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(p)
          ? JSON.stringify(p)
          : String(p),
      ),
    )
    .join('/');

describe('reads', () => {
  it('GET of random keys answers the value of the current version, by path and by ?key=, and names the version', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: hits.length - 1 }), async (i) => {
        const [key, value] = hits[i]!;
        const byPath = await call(`/v1/views/hits/get/${pathOf(key)}`);
        expect(byPath.status).toBe(200);
        expect(byPath.json).toEqual({ view: 'hits', version: 'v0000000000002-new', key, value });
        expect(byPath.headers.get('strata-view-version')).toBe('v0000000000002-new');
        const byJson = await call(
          `/v1/views/hits/get?key=${encodeURIComponent(JSON.stringify(key))}`,
        );
        expect(byJson.json.value).toEqual(value);
      }),
      { numRuns: 50 },
    );
  });

  it('tells numbers from strings as strata get does: number-looking parts are numbers unless quoted or ?string=1', async () => {
    expect((await call('/v1/views/typed/get/7')).json.value).toBe('number seven');
    expect((await call('/v1/views/typed/get/%227%22')).json.value).toBe('string seven');
    expect((await call('/v1/views/typed/get/7?string=1')).json.value).toBe('string seven');
    expect((await call('/v1/views/typed/get/02139')).json.value).toBe('zip');
    expect((await call('/v1/views/typed/get/a%2Fb/c%20d')).json.value).toBe('slash and space');
    expect((await call('/v1/views/typed/get/%C3%A9/-1.5')).json.value).toBe('unicode');
    expect((await call(`/v1/views/typed/get?key=${encodeURIComponent('["7"]')}`)).json.value).toBe(
      'string seven',
    );
  });

  it('a missing key is 404 STRATA_E_KEY_NOT_FOUND naming the version; an unknown view is 404 STRATA_E_VIEW_NOT_FOUND', async () => {
    const missing = await call('/v1/views/hits/get/nope/1');
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('STRATA_E_KEY_NOT_FOUND');
    expect(missing.headers.get('strata-view-version')).toBe('v0000000000002-new');
    const unknown = await call('/v1/views/nosuch/get/a');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('STRATA_E_VIEW_NOT_FOUND');
  });

  it('a multi-get answers every key in order, null and an index in missing for absent ones', async () => {
    const picks = Array.from({ length: 300 }, (_, i) => hits[(i * 7919) % hits.length]!);
    const keys = [...picks.map((r) => r[0]), ['/nope', 1]];
    const res = await call('/v1/views/hits/get', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(keys),
    });
    expect(res.status).toBe(200);
    expect(res.json.version).toBe('v0000000000002-new');
    expect(res.json.values).toEqual([...picks.map((r) => r[1]), null]);
    expect(res.json.missing).toEqual([300]);
    const wrapped = await call('/v1/views/hits/get', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: keys.slice(0, 2) }),
    });
    expect(wrapped.json.values).toEqual(picks.slice(0, 2).map((r) => r[1]));
  });

  it('a scan pages through the whole view in key order with the cursor, and through one prefix', async () => {
    const seen: Row[] = [];
    let cursor: string | undefined;
    do {
      const res = await call(`/v1/views/hits/scan?limit=333${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.json.version).toBe('v0000000000002-new');
      seen.push(...(res.json.entries as Row[]));
      cursor = res.json.cursor;
    } while (cursor);
    expect(seen).toEqual(sortedHits);
    const one = await call(`/v1/views/hits/scan/${encodeURIComponent('/page/17')}?limit=4`);
    expect(one.json.entries).toEqual(sortedHits.filter((r) => r[0][0] === '/page/17').slice(0, 4));
    const rest = await call(
      `/v1/views/hits/scan?prefix=${encodeURIComponent('["/page/17"]')}&cursor=${one.json.cursor}&limit=100`,
    );
    expect(rest.json.entries).toEqual(sortedHits.filter((r) => r[0][0] === '/page/17').slice(4));
    expect(rest.json.cursor).toBeUndefined();
  });

  it('GET /v1/views lists every view with its current and previous versions', async () => {
    const res = await call('/v1/views');
    expect(res.json.views.map((v: { view: string }) => v.view)).toEqual(['hits', 'typed']);
    expect(res.json.views[0]).toMatchObject({
      view: 'hits',
      version: 'v0000000000002-new',
      versions: ['v0000000000001-old', 'v0000000000002-new'],
      partitions: 4,
      records: hits.length,
    });
    expect((await call('/v1/views/typed')).json.version).toBe('v0000000000003-t');
  });

  it('answers msgpack when asked with Accept: application/msgpack', async () => {
    const res = await fetch(`${server.url}/v1/views/typed/get/7`, {
      headers: { accept: 'application/msgpack' },
    });
    expect(res.headers.get('content-type')).toContain('application/msgpack');
    expect(unpack(Buffer.from(await res.arrayBuffer()))).toEqual({
      view: 'typed',
      version: 'v0000000000003-t',
      key: [7],
      value: 'number seven',
    });
  });

  it('serves /healthz, /readyz and Prometheus /metrics with request and cache counters', async () => {
    expect((await call('/healthz')).status).toBe(200);
    expect((await call('/readyz')).status).toBe(200);
    const text = (await call('/metrics')).json as string;
    expect(text).toMatch(
      /strata_serve_requests_total\{route="\/v1\/views\/:view\/get\/\*",method="GET",status="200"\} \d+/,
    );
    expect(text).toMatch(/strata_serve_block_cache_hits_total [1-9]/);
    expect(text).toContain(
      'strata_serve_loaded_version{view="hits",version="v0000000000002-new"} 1',
    );
    expect(text).toContain('strata_serve_swap_duration_seconds_count{view="hits"} 1');
  });
});

describe('hostile requests', () => {
  const json = { 'content-type': 'application/json' };
  const cases: Array<[string, string, RequestInit | undefined, number[]]> = [
    ['a view name with ..', '/v1/views/../get/a', undefined, [400]],
    ['a view name with ../..', '/v1/views/../../store/get/a', undefined, [400, 404]],
    ['a view name %2e%2e', '/v1/views/%2e%2e/get/a', undefined, [400]],
    ['an encoded path in a view name', '/v1/views/..%2F..%2Fetc/get/a', undefined, [400]],
    ['an uppercase view name', '/v1/views/HITS/get/a', undefined, [400]],
    ['a 100-character view name', `/v1/views/${'a'.repeat(100)}/get/a`, undefined, [400]],
    ['a bad percent-encoding in a key', '/v1/views/hits/get/%E0%A4%A', undefined, [400]],
    [
      'a lone surrogate in a key',
      `/v1/views/hits/get?key=${encodeURIComponent('["\\ud800"]')}`,
      undefined,
      [400],
    ],
    ['a 10 KB key in the path', `/v1/views/hits/get/${'k'.repeat(10_000)}`, undefined, [414]],
    [
      'a 5 KB key in ?key=',
      `/v1/views/hits/get?key=${encodeURIComponent(JSON.stringify(['k'.repeat(5000)]))}`,
      undefined,
      [400],
    ],
    ['?key= that is not JSON', '/v1/views/hits/get?key=%5B%22a', undefined, [400]],
    ['?key= that is not an array', '/v1/views/hits/get?key=%7B%7D', undefined, [400]],
    ['an empty key', '/v1/views/hits/get', undefined, [400]],
    ['a bad cursor', '/v1/views/hits/scan?cursor=%%%', undefined, [400]],
    ['a forged cursor', '/v1/views/hits/scan?cursor=AAAA', undefined, [400]],
    ['a scan limit of 0', '/v1/views/hits/scan?limit=0', undefined, [400]],
    ['a scan limit over 1000', '/v1/views/hits/scan?limit=1001', undefined, [400]],
    [
      'a multi-get of invalid JSON',
      '/v1/views/hits/get',
      { method: 'POST', headers: json, body: '[["a"' },
      [400],
    ],
    [
      'a multi-get that is not an array',
      '/v1/views/hits/get',
      { method: 'POST', headers: json, body: '{"a":1}' },
      [400],
    ],
    [
      'a multi-get with a bad key',
      '/v1/views/hits/get',
      { method: 'POST', headers: json, body: '[["a"],[null]]' },
      [400],
    ],
    [
      'a multi-get of 10k keys',
      '/v1/views/hits/get',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify(Array.from({ length: 10_000 }, (_, i) => [`/page/${i}`, 1])),
      },
      [413],
    ],
    [
      'a 2 MB body',
      '/v1/views/hits/get',
      { method: 'POST', headers: json, body: JSON.stringify([['x'.repeat(2_000_000)]]) },
      [413],
    ],
    [
      'a body that is not JSON',
      '/v1/views/hits/get',
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' },
      [400, 415],
    ],
    ['a write method', '/v1/views/hits/get/a', { method: 'DELETE' }, [404]],
    ['a PUT', '/v1/views/hits', { method: 'PUT', headers: json, body: '{}' }, [404]],
  ];
  for (const [what, p, init, statuses] of cases) {
    it(`${what} gets ${statuses.join(' or ')} with a StrataError`, async () => {
      const res = await call(p, init);
      expect(statuses, JSON.stringify(res.json)).toContain(res.status);
      expect(res.json.error.code).toMatch(/^STRATA_E_/);
      expect(typeof res.json.error.message).toBe('string');
    });
  }

  it('headers over the limit get 431, and the server stays up after all of it', async () => {
    const res = await fetch(`${server.url}/v1/views/hits/get/a`, {
      headers: { 'x-big': 'h'.repeat(20_000) },
    }).catch((e: unknown) => e);
    expect(res instanceof Response ? res.status : 431).toBe(431);
    expect((await call('/healthz')).status).toBe(200);
    expect((await call(`/v1/views/hits/get/${pathOf(hits[0]![0])}`)).json.value).toEqual(
      hits[0]![1],
    );
  });

  it('nothing outside the store is read: the store folder is all that exists under views/', async () => {
    const views = await call('/v1/views');
    expect(views.json.views).toHaveLength(2);
  });
});
