/**
 * Recovery at start: commits a killed speed process left in flight are finished (segments there →
 * folded, staged copies rolled forward) or dropped (nothing stored) before the API listens.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextSequence } from '../../core/dataset/dataset-layout.ts';
import { isStrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { SegmentEncoder } from '../../core/segment/segment-encoder.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { CommittedCommit } from '../../speed/commit-hook.ts';
import { CommitLog, stagingKey } from '../../speed/commit-log.ts';
import { acquireSpeedLease } from '../../speed/speed-leader.ts';
import { startSpeedServer } from '../../speed/start-speed-server.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { readDataset, speedConfig } from './speed-fixture.ts';

let redisServer: TestRedis;
let redis: Redis;
let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = await connectRedis(redisServer.url, { role: 'command' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-speed-recovery-'));
  store = await openStore(`file://${dir}`);
});
afterAll(async () => {
  await store?.close();
  redis?.disconnect();
  await redisServer?.stop();
  await rm(dir, { recursive: true, force: true });
});

function segment(
  dataset: string,
  ids: string[],
  date: string,
): { bytes: Uint8Array; sha256: string } {
  const enc = new SegmentEncoder({ dataset, timeField: 'time' });
  const chunks: Uint8Array[] = [];
  const t = Date.parse(`${date}T12:00:00Z`);
  for (const id of ids) chunks.push(...(enc.add({ id, time: t }, t) ?? []));
  const { chunks: last, summary } = enc.finish();
  return { bytes: Buffer.concat([...chunks, ...last]), sha256: summary.sha256 };
}

async function begin(log: CommitLog, dataset: string, days: Record<string, string[]>) {
  const segs = Object.entries(days).map(([date, ids]) => ({
    date,
    ...segment(dataset, ids, date),
  }));
  const { record } = await log.begin(
    dataset,
    segs.map((s) => ({ date: s.date, seq: nextSequence(), sha256: s.sha256 })),
  );
  return { record, segs };
}

describe('speed recovery', () => {
  it('before listening, folds commits whose segments were stored, rolls staged copies forward, and drops commits that stored nothing', async () => {
    const config = speedConfig({ redisUrl: redisServer.url, store: `file://${dir}` });
    const log = new CommitLog(redis, {
      prefix: config.redisPrefix,
      bucketMs: config.speedBucketMs,
    });

    // A: single day, put to master, crashed before the hook.
    const a = await begin(log, 'ticks', { '2026-01-05': ['a1', 'a2'] });
    await store.put(a.record.segments[0]!, a.segs[0]!.bytes);
    // B: crashed before its put.
    const b = await begin(log, 'ticks', { '2026-01-05': ['b1'] });
    // C: two days, staged, crashed after the first copy.
    const c = await begin(log, 'ticks', { '2026-01-05': ['c1'], '2026-01-06': ['c2'] });
    const copies = c.record.segments.map((to, i) => ({
      from: stagingKey('ticks', c.record.id, c.segs[i]!.date),
      to,
    }));
    for (let i = 0; i < 2; i++) await store.put(copies[i]!.from, c.segs[i]!.bytes);
    await log.markStaged('ticks', c.record.id, copies);
    await store.copy(copies[0]!.from, copies[0]!.to);
    // D: two days, crashed while staging (one tmp file written, not marked staged).
    const d = await begin(log, 'ticks', { '2026-01-05': ['d1'], '2026-01-07': ['d2'] });
    await store.put(stagingKey('ticks', d.record.id, '2026-01-05'), d.segs[0]!.bytes);
    // E: another dataset, stored.
    const e = await begin(log, 'clicks', { '2026-01-05': ['e1'] });
    await store.put(e.record.segments[0]!, e.segs[0]!.bytes);

    const calls: CommittedCommit[] = [];
    const server = await startSpeedServer(config, {
      store,
      onCommitted: async (commit) => void calls.push(commit),
    });
    try {
      expect(server.recovered).toEqual({
        folded: [
          { dataset: 'clicks', id: e.record.id },
          { dataset: 'ticks', id: a.record.id },
          { dataset: 'ticks', id: c.record.id },
        ],
        dropped: [
          { dataset: 'ticks', id: b.record.id },
          { dataset: 'ticks', id: d.record.id },
        ],
      });
      // The hook ran without records (it reads the segments), before the server answered anything.
      expect(calls).toEqual([
        {
          dataset: 'clicks',
          id: e.record.id,
          bucket: e.record.bucket,
          segments: e.record.segments,
          views: [],
        },
        {
          dataset: 'ticks',
          id: a.record.id,
          bucket: a.record.bucket,
          segments: a.record.segments,
          views: [],
        },
        {
          dataset: 'ticks',
          id: c.record.id,
          bucket: c.record.bucket,
          segments: c.record.segments,
          views: [],
        },
      ]);
      expect(await log.listInflight('ticks')).toEqual([]);
      expect(await log.listInflight('clicks')).toEqual([]);
      expect((await readDataset(store, 'ticks')).map((r) => r.id).sort()).toEqual([
        'a1',
        'a2',
        'c1',
        'c2',
      ]);
      const tmp: string[] = [];
      for await (const o of store.list('tmp/')) tmp.push(o.key);
      expect(tmp).toEqual([]);
      expect(
        (await fetch(`${server.url}/metrics`).then((r) => r.text()))
          .match(/^strata_speed_recovered_commits_total\{outcome="(\w+)"\} (\d+)$/gm)!
          .sort(),
      ).toEqual([
        'strata_speed_recovered_commits_total{outcome="dropped"} 2',
        'strata_speed_recovered_commits_total{outcome="folded"} 3',
      ]);
    } finally {
      await server.close();
    }
  });

  it('a commit whose hook keeps failing at start fails the start and stays in flight for the next one', async () => {
    const config = speedConfig({ redisUrl: redisServer.url, store: `file://${dir}` });
    const log = new CommitLog(redis, {
      prefix: config.redisPrefix,
      bucketMs: config.speedBucketMs,
    });
    const a = await begin(log, 'hooked', { '2026-01-05': ['h1'] });
    await store.put(a.record.segments[0]!, a.segs[0]!.bytes);
    const err = await startSpeedServer(config, {
      store,
      onCommitted: async () => Promise.reject(new Error('realtime state unreachable')),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('realtime state unreachable');
    expect((await log.listInflight('hooked')).map((r) => r.id)).toEqual([a.record.id]);
    const server = await startSpeedServer(config, { store, onCommitted: async () => {} }); // the lease was released
    expect(server.recovered.folded).toEqual([{ dataset: 'hooked', id: a.record.id }]);
    await server.close();
  });

  it('a second speed server on the same prefix fails at start with STRATA_E_SPEED_LEADER and touches nothing', async () => {
    const config = speedConfig({ redisUrl: redisServer.url, store: `file://${dir}` });
    const lease = await acquireSpeedLease(redis, config.redisPrefix);
    const log = new CommitLog(redis, {
      prefix: config.redisPrefix,
      bucketMs: config.speedBucketMs,
    });
    const b = await begin(log, 'other', { '2026-01-05': ['x'] });
    try {
      const err = await startSpeedServer(config, { store }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStrataError(err, 'STRATA_E_SPEED_LEADER')).toBe(true);
      expect((err as Error).message).toContain(
        `another strata speed process (${lease.holder}) already runs for the cluster prefix ${config.redisPrefix}`,
      );
      expect((await log.listInflight('other')).map((r) => r.id)).toEqual([b.record.id]); // not recovered by the loser
    } finally {
      await lease.release();
    }
  });
});
