/**
 * Version swaps under load: a new version announced on Redis (or found by polling _CURRENT) is
 * loaded in the background and switched atomically; requests in flight finish on their version,
 * no request fails or sees a mix of versions, a rollback is followed, and old versions close.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { currentKey, viewsChannel } from '../../core/views/view-layout.ts';
import { startViewServer, type ViewServer } from '../../serving/start-view-server.ts';
import { publishView, type Row } from '../cli/fixtures/publish-view.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const KEYS = 3000;
const version = (n: number) => `v${String(n).padStart(13, '0')}-swap`;
const numberOf = (v: string) => Number(v.slice(1, 14));
/** Every value of version n is n: an answer mixing versions cannot go unnoticed. */
const rows = (n: number): Row[] => Array.from({ length: KEYS }, (_, i) => [[`k${i % 300}`, i], n]);

let dir: string;
let store: ObjectStore;
let redis: TestRedis;
let pub: Redis;
const prefix = `serve${Date.now()}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-swap-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
  redis = await startTestRedis();
  pub = await connectRedis(redis.url, { role: 'command' });
});
afterAll(async () => {
  pub?.disconnect();
  await redis?.stop();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

function config(extra: Record<string, string | number>) {
  return loadConfig({
    env: {},
    cwd: dir,
    overrides: {
      store: `file://${path.join(dir, 'store')}`,
      servePort: 0,
      redisPrefix: prefix,
      ...extra,
    },
  });
}

interface LoadResult {
  requests: number;
  errors: string[];
  seen: Set<number>;
}

/** `loops` concurrent clients doing GETs, multi-gets and scans until stop() is called. */
function loadLoops(
  server: ViewServer,
  view: string,
  loops: number,
): { stop: () => Promise<LoadResult>; last: () => number } {
  const result: LoadResult = { requests: 0, errors: [], seen: new Set() };
  let running = true;
  let last = 0;
  const check = (v: string, values: unknown[], what: string) => {
    const n = numberOf(v);
    result.seen.add(n);
    last = n;
    if (values.length === 0 || values.some((x) => x !== n))
      result.errors.push(`${what}: version ${v} answered ${JSON.stringify(values.slice(0, 5))}`);
  };
  const one = async (i: number) => {
    const r = i % 3;
    const key = Math.floor(Math.random() * KEYS);
    if (r === 0) {
      const res = await fetch(`${server.url}/v1/views/${view}/get/k${key % 300}/${key}`);
      const body = (await res.json()) as { version: string; value: unknown };
      if (res.status !== 200)
        return void result.errors.push(`get ${res.status} ${JSON.stringify(body)}`);
      check(body.version, [body.value], 'get');
    } else if (r === 1) {
      const keys = Array.from({ length: 50 }, (_, j) => {
        const k = (key + j * 61) % KEYS;
        return [`k${k % 300}`, k];
      });
      const res = await fetch(`${server.url}/v1/views/${view}/get`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(keys),
      });
      const body = (await res.json()) as { version: string; values: unknown[] };
      if (res.status !== 200)
        return void result.errors.push(`multi-get ${res.status} ${JSON.stringify(body)}`);
      check(body.version, body.values, 'multi-get');
    } else {
      const res = await fetch(`${server.url}/v1/views/${view}/scan?limit=200`);
      const body = (await res.json()) as { version: string; entries: Array<[unknown, unknown]> };
      if (res.status !== 200)
        return void result.errors.push(`scan ${res.status} ${JSON.stringify(body)}`);
      check(
        body.version,
        body.entries.map((e) => e[1]),
        'scan',
      );
    }
  };
  const done = Array.from({ length: loops }, async (_, l) => {
    for (let i = l; running; i++) {
      try {
        await one(i);
      } catch (err) {
        result.errors.push(String(err));
      }
      result.requests++;
    }
  });
  return {
    last: () => last,
    stop: async () => {
      running = false;
      await Promise.all(done);
      return result;
    },
  };
}

async function announce(view: string, v: string): Promise<void> {
  await pub.publish(viewsChannel(prefix), JSON.stringify({ view, version: v }));
}

describe('version swaps', () => {
  it('a version announced on Redis is swapped in under 20 loops of reads with no error and no mixed answer, and a rollback is followed', async () => {
    await publishView(store, 'counts', rows(1), { partitions: 4, version: version(1) });
    // Polling is slow here: the announcements alone must drive the swaps.
    const server = await startViewServer(config({ servePollMs: 600_000 }), {
      store,
      redisUrl: redis.url,
    });
    const load = loadLoops(server, 'counts', 20);
    try {
      await expect.poll(() => load.last(), { timeout: 5000 }).toBe(1);
      const first = server.registry.acquire('counts')!;
      first.release();

      await publishView(store, 'counts', rows(2), { partitions: 4, version: version(2) });
      await announce('counts', version(2));
      await expect.poll(() => load.last(), { timeout: 10_000 }).toBe(2);
      await expect.poll(() => first.closed, { timeout: 5000 }).toBe(true); // drained, then closed

      await publishView(store, 'counts', rows(3), { partitions: 4, version: version(3) });
      await announce('counts', version(3));
      await expect.poll(() => load.last(), { timeout: 10_000 }).toBe(3);

      // Rollback: _CURRENT points back at version 2, then the announcement.
      await store.put(
        currentKey('counts'),
        new TextEncoder().encode(JSON.stringify({ version: version(2) })),
        { overwrite: true },
      );
      await announce('counts', version(2));
      await expect.poll(() => load.last(), { timeout: 10_000 }).toBe(2);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      const result = await load.stop();
      const listed = (await (await fetch(`${server.url}/v1/views/counts`)).json()) as {
        version: string;
        previous: string;
        versions: string[];
      };
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      await server.stop();
      expect(result.errors.slice(0, 5)).toEqual([]);
      expect([...result.seen].sort()).toEqual([1, 2, 3]);
      expect(result.requests).toBeGreaterThan(200);
      expect(listed).toMatchObject({
        version: version(2),
        previous: version(3),
        versions: [version(1), version(2), version(3)],
      });
      expect(metrics).toContain('strata_serve_swap_duration_seconds_count{view="counts"} 4');
      expect(metrics).toContain(
        `strata_serve_loaded_version{view="counts",version="${version(2)}"} 1`,
      );
      expect(metrics).not.toContain(`version="${version(3)}"} 1`);
    }
    // Every local copy is gone once the server stopped.
    expect(await readdir(path.join(dir, '.strata', 'serve-cache')).catch(() => [])).toEqual([]);
  });

  it('without Redis, a new version and a new view are found by polling _CURRENT', async () => {
    await publishView(store, 'polled', rows(1), { partitions: 2, version: version(1) });
    const server = await startViewServer(config({ servePollMs: 100 }), { store, redisUrl: '' });
    const load = loadLoops(server, 'polled', 5);
    try {
      await expect.poll(() => load.last(), { timeout: 5000 }).toBe(1);
      await publishView(store, 'polled', rows(7), { partitions: 3, version: version(7) });
      await expect.poll(() => load.last(), { timeout: 5000 }).toBe(7);
      expect((await fetch(`${server.url}/v1/views/later/get/a`)).status).toBe(404);
      await publishView(store, 'later', [[['a'], 'here']], { partitions: 1, version: version(9) });
      await expect
        .poll(async () => (await fetch(`${server.url}/v1/views/later/get/a`)).status, {
          timeout: 5000,
        })
        .toBe(200);
    } finally {
      const result = await load.stop();
      await server.stop();
      expect(result.errors.slice(0, 5)).toEqual([]);
      expect([...result.seen].sort()).toEqual([1, 7]);
    }
  });

  it('a version whose part file is missing is not swapped in: the old version keeps serving', async () => {
    await publishView(store, 'broken', rows(1), { partitions: 2, version: version(1) });
    const server = await startViewServer(config({ servePollMs: 600_000 }), {
      store,
      redisUrl: redis.url,
    });
    try {
      // A manifest naming a part that does not exist, as a damaged store would.
      const manifest = {
        ...(await publishView(store, 'broken-src', rows(2), {
          partitions: 2,
          version: version(2),
        })),
        view: 'broken',
      };
      manifest.parts = manifest.parts.map((p) => ({
        ...p,
        key: `views/broken/${version(2)}/part-${p.partition}.sv`,
      }));
      await store.put(
        `views/broken/${version(2)}/_MANIFEST.json`,
        new TextEncoder().encode(JSON.stringify(manifest)),
      );
      await store.put(
        currentKey('broken'),
        new TextEncoder().encode(JSON.stringify({ version: version(2) })),
        { overwrite: true },
      );
      await announce('broken', version(2));
      await expect
        .poll(
          async () =>
            (await server.metrics.swapFailures.get()).values.find((v) => v.labels.view === 'broken')
              ?.value ?? 0,
          { timeout: 5000 },
        )
        .toBeGreaterThan(0);
      const res = (await (await fetch(`${server.url}/v1/views/broken/get/k0/0`)).json()) as {
        version: string;
        value: number;
      };
      expect(res).toMatchObject({ version: version(1), value: 1 });
    } finally {
      await server.stop();
    }
  });
});
