/**
 * The speed layer's ingest API in one process, over a real Redis and a real file store:
 * validation, group commit, multi-day commits, failures that acknowledge nothing, the commit hook.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSegmentKey } from '../../core/dataset/dataset-layout.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { CommittedCommit } from '../../speed/commit-hook.ts';
import { CommitLog } from '../../speed/commit-log.ts';
import { startSpeedServer, type SpeedServer } from '../../speed/start-speed-server.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { ndjson, post, readDataset, segmentsOf, speedConfig } from './speed-fixture.ts';

let redisServer: TestRedis;
let redis: Redis;
let dir: string;
const servers: SpeedServer[] = [];
const stores: ObjectStore[] = [];

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = await connectRedis(redisServer.url, { role: 'command' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-speed-'));
});
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const s of stores) await s.close();
  redis?.disconnect();
  await redisServer?.stop();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function start(
  opts: {
    config?: Parameters<typeof speedConfig>[0];
    onCommitted?: (c: CommittedCommit) => Promise<void>;
  } = {},
) {
  const storeDir = path.join(dir, `store-${++n}`);
  const config = speedConfig({
    redisUrl: redisServer.url,
    store: `file://${storeDir}`,
    ...opts.config,
  });
  const store = await openStore(config.store);
  stores.push(store);
  const server = await startSpeedServer(config, {
    store,
    ...(opts.onCommitted ? { onCommitted: opts.onCommitted } : {}),
  });
  servers.push(server);
  return {
    server,
    store,
    config,
    storeDir,
    commitLog: new CommitLog(redis, { prefix: config.redisPrefix, bucketMs: config.speedBucketMs }),
  };
}

const T0 = Date.UTC(2026, 0, 5, 10);
const tick = (id: string, t = T0) => ({
  time: new Date(t).toISOString(),
  id,
  symbol: 'ACME',
  price: 101.25,
  qty: 3,
});

describe('speed ingest API', () => {
  it('a bad record refuses the whole request with 400 naming its index, line and reason, and stores nothing', async () => {
    const { server, store } = await start();
    const lines = [tick('a'), tick('b'), { id: 'c', time: 1767603600 }, tick('d')];
    const bad = await post(server.url, 'ticks', ndjson(lines));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('STRATA_E_RECORD_INVALID');
    expect(bad.body.error.message).toMatch(
      /^record 2 \(line 3\): time field "time" is 1767603600, which looks like epoch seconds; .*nothing of this request was stored$/,
    );
    expect(bad.body.error.details).toMatchObject({
      index: 2,
      line: 3,
      field: 'time',
      value: 1767603600,
    });

    // Blank lines count as lines; a line that is not JSON is named too.
    const notJson = await post(
      server.url,
      'ticks',
      `${JSON.stringify(tick('a'))}\n\n{"time": oops}\n`,
    );
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toMatch(
      /^record 1 \(line 3\): not valid JSON \(.*\): \{"time": oops\}/,
    );

    // application/json: an array, the index names the element.
    const arr = await post(server.url, 'ticks', JSON.stringify([tick('a'), 42]), {
      type: 'application/json',
    });
    expect(arr.status).toBe(400);
    expect(arr.body.error.message).toMatch(/^record 1: a number, not a JSON object/);
    const missing = await post(
      server.url,
      'ticks',
      JSON.stringify([tick('a'), { id: 'x', ts: T0 }]),
      { type: 'application/json' },
    );
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(
      /^record 1: time field "time" is missing; name the field .* \?timeField=<field>, or add \?defaultTime=now/,
    );

    expect(await segmentsOf(store, 'ticks')).toEqual([]);
    // The same request with the time field named, or stamped with the ingest time, is taken.
    expect(
      (
        await post(server.url, 'ticks', JSON.stringify([{ id: 'x', ts: T0 }]), {
          type: 'application/json',
          query: '?timeField=ts',
        })
      ).status,
    ).toBe(200);
    const before = Date.now();
    expect(
      (await post(server.url, 'ticks', ndjson([{ id: 'y' }]), { query: '?defaultTime=now' }))
        .status,
    ).toBe(200);
    const stored = await readDataset(store, 'ticks');
    expect(stored.map((r) => r.id).sort()).toEqual(['x', 'y']);
    expect(stored.find((r) => r.id === 'y')!.time).toBeGreaterThanOrEqual(before);
  });

  it('refuses a wrong or missing token (401), an unknown content type (415), a bad dataset name (400) and a body over the limit (413 naming it)', async () => {
    const { server, store } = await start({ config: { speedBodyLimitBytes: 64 * 1024 } });
    const body = ndjson([tick('a')]);
    const wrong = await post(server.url, 'ticks', body, { token: 'nope' });
    expect([wrong.status, wrong.body.error.code]).toEqual([401, 'STRATA_E_AUTH']);
    expect((await post(server.url, 'ticks', body, { token: null })).status).toBe(401);
    const text = await post(server.url, 'ticks', body, { type: 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body.error.message).toMatch(
      /send the records as application\/x-ndjson .* or application\/json/,
    );
    const name = await post(server.url, 'Ticks', body);
    expect([name.status, name.body.error.code]).toEqual([400, 'STRATA_E_DATASET_NAME']);
    const big = ndjson(Array.from({ length: 2000 }, (_, i) => tick(`r${i}`)));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const over = await post(server.url, 'ticks', big);
    expect(over.status).toBe(413);
    expect(over.body.error.message).toMatch(
      /larger than the limit of 64 KiB \(STRATA_SPEED_BODY_LIMIT_BYTES\); send the records in smaller batches/,
    );
    expect(await segmentsOf(store, 'ticks')).toEqual([]);
    // With the right charset parameter and token, the same body is taken.
    expect(
      (await post(server.url, 'ticks', body, { type: 'application/x-ndjson; charset=utf-8' }))
        .status,
    ).toBe(200);
  });

  it('group-commits concurrent requests into few segments, and every acknowledged record is stored exactly once', async () => {
    const { server, store } = await start({ config: { speedLingerMs: 5 } });
    const requests = 200;
    // Every tenth body is large enough (> 32 KiB) to be parsed on a parse thread.
    const sizes = Array.from({ length: requests }, (_, r) => (r % 10 === 0 ? 500 : 50));
    const total = sizes.reduce((a, b) => a + b, 0);
    const answers = await Promise.all(
      sizes.map((per, r) =>
        post(
          server.url,
          'ticks',
          ndjson(Array.from({ length: per }, (_, i) => tick(`r${r}-${i}`, T0 + r * 1000 + i))),
        ),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.map((a) => a.body.records)).toEqual(sizes);
    const commits = new Set(answers.map((a) => a.body.commitId));
    expect(commits.size).toBeLessThan(requests / 4); // grouped, not one commit per request
    // Requests of one commit share its segments; the dataset holds exactly the commits' segments.
    const segments = await segmentsOf(store, 'ticks');
    expect(segments.length).toBe(commits.size);
    expect(new Set(answers.flatMap((a) => a.body.segments))).toEqual(
      new Set(segments.map((s) => s.key)),
    );
    for (const s of segments)
      expect(s.bucket).toBe(answers.find((a) => a.body.segments.includes(s.key))!.body.bucket);
    const ids = (await readDataset(store, 'ticks')).map((r) => r.id as string);
    expect(ids.length).toBe(total);
    expect(new Set(ids).size).toBe(total);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`^strata_speed_records_total\\{dataset="ticks"\\} ${total}$`, 'm'),
    );
    expect(metrics).toMatch(
      new RegExp(
        `^strata_speed_commits_total\\{dataset="ticks",outcome="ok"\\} ${commits.size}$`,
        'm',
      ),
    );
    expect(metrics).toMatch(/^strata_speed_commit_duration_seconds_count\{dataset="ticks"\} \d+$/m);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('a group stays within speedMaxCommitRecords, and a larger request is committed alone, never split', async () => {
    const { server, store } = await start({
      config: { speedMaxCommitRecords: 100, speedLingerMs: 100 },
    });
    const sizes = [150, 40, 40, 40, 10];
    const answers = await Promise.all(
      sizes.map((n, r) =>
        post(server.url, 'ticks', ndjson(Array.from({ length: n }, (_, i) => tick(`s${r}-${i}`)))),
      ),
    );
    expect(answers.map((a) => [a.status, a.body.records])).toEqual(sizes.map((n) => [200, n]));
    const perCommit = new Map<number, number>();
    for (const a of answers)
      perCommit.set(a.body.commitId, (perCommit.get(a.body.commitId) ?? 0) + a.body.records);
    const big = answers[0]!.body.commitId;
    expect(perCommit.get(big)).toBe(150);
    for (const [id, n] of perCommit) if (id !== big) expect(n).toBeLessThanOrEqual(100);
    expect(perCommit.size).toBeLessThan(sizes.length); // the small ones were grouped
    expect((await readDataset(store, 'ticks')).length).toBe(280);
  });

  it('a request over several days is one commit with one segment per UTC day, staged through tmp/ and then nothing left there', async () => {
    const { server, store } = await start();
    const day = 86_400_000;
    const records = [
      tick('d1', T0),
      tick('d3', T0 + 2 * day),
      tick('d2', T0 + day),
      tick('d1b', T0 + 3600_000),
    ];
    const res = await post(server.url, 'ticks', ndjson(records));
    expect(res.status).toBe(200);
    expect(res.body.segments.map((k: string) => parseSegmentKey(k)!.date)).toEqual([
      '2026-01-05',
      '2026-01-06',
      '2026-01-07',
    ]);
    for (const k of res.body.segments) expect(parseSegmentKey(k)!.bucket).toBe(res.body.bucket);
    const byDay = new Map<string, unknown[]>();
    for (const s of await segmentsOf(store, 'ticks')) {
      const rs: unknown[] = [];
      for await (const r of (await openSegment(store, s.key)).records())
        rs.push((r as { id: string }).id);
      byDay.set(s.date, rs);
    }
    expect(Object.fromEntries(byDay)).toEqual({
      '2026-01-05': ['d1', 'd1b'],
      '2026-01-06': ['d2'],
      '2026-01-07': ['d3'],
    });
    const leftovers: string[] = [];
    for await (const o of store.list('tmp/')) leftovers.push(o.key);
    expect(leftovers).toEqual([]);
  });

  it('a commit whose store write fails answers 503 to every request of the group, acknowledges nothing, and is then dropped from the in-flight log', async () => {
    const { server, store, storeDir, commitLog } = await start({ config: { speedLingerMs: 20 } });
    // A plain file where the day folder must go: the store cannot create the segment.
    await mkdir(path.join(storeDir, 'master', 'ticks'), { recursive: true });
    await writeFile(path.join(storeDir, 'master', 'ticks', 'dt=2026-01-05'), 'in the way');
    const answers = await Promise.all(
      [0, 1, 2].map((r) => post(server.url, 'ticks', ndjson([tick(`f${r}`)]))),
    );
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.body.error.code).toBe('STRATA_E_SPEED_UNAVAILABLE');
      expect(a.body.error.message).toMatch(
        /^the group commit of \d+ records to dataset ticks failed \(.*\[STRATA_E_STORE_.*\]\); the store write failed, so the records are most likely not stored and nothing was acknowledged: send them again$/,
      );
      expect(a.body.error.details).toMatchObject({ dataset: 'ticks', stored: 'unknown' });
    }
    expect(await segmentsOf(store, 'ticks')).toEqual([]);
    // The failed commit was in flight; the server settles it (nothing stored → dropped), so a batch
    // seal can drain.
    const sealed = await commitLog.seal('ticks');
    await commitLog.waitDrained('ticks', sealed, 10_000);
    expect(await commitLog.listInflight('ticks')).toEqual([]);
    // Other days still work.
    expect((await post(server.url, 'ticks', ndjson([tick('ok', T0 + 86_400_000)]))).status).toBe(
      200,
    );
  });

  it('the commit hook gets every record before the acknowledgement; when it throws the group fails (stored: yes) and the hook is retried without records', async () => {
    const calls: CommittedCommit[] = [];
    let failNext = false;
    const { server, store, commitLog } = await start({
      onCommitted: async (c) => {
        calls.push(c);
        if (failNext) {
          failNext = false;
          throw new Error('fold exploded');
        }
      },
    });
    const ok = await post(server.url, 'ticks', ndjson([tick('h1'), tick('h2')]));
    expect(ok.status).toBe(200);
    expect(calls).toEqual([
      {
        dataset: 'ticks',
        id: ok.body.commitId,
        bucket: ok.body.bucket,
        segments: ok.body.segments,
        views: [],
        records: [tick('h1'), tick('h2')],
      },
    ]);

    failNext = true;
    const failed = await post(server.url, 'ticks', ndjson([tick('h3')]));
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(
      /fold exploded .*these records ARE stored and strata speed will fold them when it retries the commit: do not send them again/,
    );
    expect(failed.body.error.details).toMatchObject({ stored: 'yes' });
    // The records are in the master dataset; the commit stays in flight until the retried hook
    // succeeds.
    expect((await readDataset(store, 'ticks')).map((r) => r.id)).toEqual(['h1', 'h2', 'h3']);
    const sealed = await commitLog.seal('ticks');
    await commitLog.waitDrained('ticks', sealed, 10_000);
    const retried = calls.at(-1)!;
    expect(retried).toEqual({
      dataset: 'ticks',
      id: failed.body.error.details.commitId,
      bucket: failed.body.error.details.bucket,
      segments: expect.any(Array),
      views: [],
    });
    expect(calls.length).toBe(3);
  });
});
