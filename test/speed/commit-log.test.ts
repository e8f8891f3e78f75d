/**
 * The speed commit protocol in a real Redis: buckets against seals, draining, the realtime views
 * a commit must fold, and the speed lease.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSegmentKey } from '../../core/dataset/dataset-layout.ts';
import { isStrataError } from '../../core/errors.ts';
import { CommitLog, realtimeViewsKey, speedLeaderKey } from '../../speed/commit-log.ts';
import { acquireSpeedLease } from '../../speed/speed-leader.ts';
import { useTestRedis } from '../support/redis.ts';

const r = useTestRedis();

const prefix = () => `t-${randomBytes(4).toString('hex')}`;
const SHA = 'ab'.repeat(32);
const plan = (date = '2026-01-05') => [{ date, seq: '0000000000001000000', sha256: SHA }];

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('commit log', () => {
  it('a commit begun before a seal gets a bucket ≤ the sealed one, and one begun after gets a higher one (any interleaving, any bucket size)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 50, 1000, 60_000),
        fc.array(fc.constantFrom('begin', 'seal', 'pause'), { minLength: 1, maxLength: 25 }),
        async (bucketMs, ops) => {
          const log = new CommitLog(r.redis, { prefix: prefix(), bucketMs });
          // Commands of one connection run in the order they are sent: fire them all at once.
          const results = await Promise.all(
            ops.map((op) =>
              op === 'begin'
                ? log.begin('ds', plan())
                : op === 'seal'
                  ? log.seal('ds')
                  : new Promise((r) => setTimeout(r, 2)),
            ),
          );
          const begun: Array<{ at: number; bucket: number; id: number }> = [];
          const seals: Array<{ at: number; sealed: number }> = [];
          results.forEach((r, at) => {
            if (ops[at] === 'begin') {
              const { record } = r as Awaited<ReturnType<CommitLog['begin']>>;
              begun.push({ at, bucket: record.bucket, id: record.id });
            } else if (ops[at] === 'seal') seals.push({ at, sealed: r as number });
          });
          for (const s of seals) {
            for (const b of begun) {
              if (b.at < s.at) expect(b.bucket).toBeLessThanOrEqual(s.sealed);
              else expect(b.bucket).toBeGreaterThan(s.sealed);
            }
          }
          for (let i = 1; i < begun.length; i++)
            expect(begun[i]!.id).toBeGreaterThan(begun[i - 1]!.id);
          for (let i = 1; i < seals.length; i++)
            expect(seals[i]!.sealed).toBeGreaterThan(seals[i - 1]!.sealed);
          expect(begun.map((b) => b.id)).toEqual(begun.map((_, i) => i + 1));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('the bucket comes from Redis time: floor(now / bucketMs) when nothing is sealed', async () => {
    const log = new CommitLog(r.redis, { prefix: prefix(), bucketMs: 60_000 });
    const [sec] = await r.redis.time();
    const { record } = await log.begin('ds', plan());
    expect(Math.abs(record.bucket - Math.floor((Number(sec) * 1000) / 60_000))).toBeLessThanOrEqual(
      1,
    );
    expect(Math.abs(record.startedAt - Number(sec) * 1000)).toBeLessThan(2000);
    expect(record.segments).toEqual([
      `master/ds/dt=2026-01-05/0000000000001000000-b${record.bucket}-${SHA}.seg`,
    ]);
    expect(parseSegmentKey(record.segments[0]!)).toMatchObject({
      dataset: 'ds',
      bucket: record.bucket,
    });
  });

  it('begin returns the realtime views registered for the dataset only, and the in-flight record names them', async () => {
    const p = prefix();
    const log = new CommitLog(r.redis, { prefix: p, bucketMs: 1000 });
    await r.redis.hset(realtimeViewsKey(p), {
      pv: JSON.stringify({ view: 'pv', dataset: 'pageviews', codeHash: 'a' }),
      uniques: JSON.stringify({ view: 'uniques', dataset: 'pageviews', codeHash: 'b' }),
      prices: JSON.stringify({ view: 'prices', dataset: 'ticks', codeHash: 'c' }),
      broken: 'not json',
    });
    const { record, registrations } = await log.begin('pageviews', plan(), { records: 7 });
    expect(registrations.map((r) => r.view).sort()).toEqual(['pv', 'uniques']);
    expect([...record.views].sort()).toEqual(['pv', 'uniques']);
    const [inflight] = await log.listInflight('pageviews');
    expect(inflight).toEqual(record);
    expect(inflight!.records).toBe(7);
    const none = await log.begin('clicks', plan());
    expect(none.registrations).toEqual([]);
    expect((await log.listInflight('clicks'))[0]!.views).toEqual([]);
    expect(await log.listDatasets()).toEqual(['clicks', 'pageviews']);
  });

  it('markStaged keeps the copies in the in-flight record; complete removes it', async () => {
    const log = new CommitLog(r.redis, { prefix: prefix(), bucketMs: 1000 });
    const { record } = await log.begin('ds', [...plan('2026-01-05'), ...plan('2026-01-06')]);
    const copies = record.segments.map((to, i) => ({
      from: `tmp/speed/ds/${record.id}/${i}.seg`,
      to,
    }));
    await log.markStaged('ds', record.id, copies);
    expect(await log.listInflight('ds')).toEqual([{ ...record, staged: true, copies }]);
    await log.complete('ds', record.id);
    expect(await log.listInflight('ds')).toEqual([]);
  });

  it('waitDrained waits for commits at or below the sealed bucket only, and times out naming them and the fix', async () => {
    const log = new CommitLog(r.redis, { prefix: prefix(), bucketMs: 1000, pollMs: 5 });
    const early = await log.begin('ds', plan());
    const sealed = await log.seal('ds');
    const late = await log.begin('ds', plan());
    expect(late.record.bucket).toBeGreaterThan(sealed);

    const err = await rejection(log.waitDrained('ds', sealed, 150));
    expect(isStrataError(err, 'STRATA_E_SPEED_IN_FLIGHT')).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `speed commit ${early.record.id} of dataset ds \\(bucket ≤ ${sealed}\\) is still in flight after 150 ms .*start \`strata speed\``,
      ),
    );
    expect((err as { details: unknown }).details).toEqual({
      dataset: 'ds',
      sealed,
      commits: [early.record.id],
    });

    const t0 = Date.now();
    setTimeout(() => void log.complete('ds', early.record.id), 100);
    await log.waitDrained('ds', sealed, 5000); // the later commit (still in flight) does not block it
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect((await log.listInflight('ds')).map((r) => r.id)).toEqual([late.record.id]);
  });
});

describe('speed lease', () => {
  it('a second holder fails with STRATA_E_SPEED_LEADER naming the first (host:pid) and what to do; after release it can take it', async () => {
    const p = prefix();
    const first = await acquireSpeedLease(r.redis, p, { ttlMs: 5000 });
    expect(first.holder).toBe(`${os.hostname()}:${process.pid}`);
    const err = await rejection(acquireSpeedLease(r.redis, p, { ttlMs: 5000 }));
    expect(isStrataError(err, 'STRATA_E_SPEED_LEADER')).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `another strata speed process \\(${os.hostname()}:${process.pid}\\) already runs for the cluster prefix ${p}: only one may commit\\. Stop that one first; if it was killed, its lease expires in \\d s`,
      ),
    );
    await first.release();
    const second = await acquireSpeedLease(r.redis, p, { ttlMs: 5000 });
    await second.release();
  });

  it('a commit begun with a lease token that is no longer the holder fails and writes nothing (fencing)', async () => {
    const p = prefix();
    const lease = await acquireSpeedLease(r.redis, p, { ttlMs: 5000 });
    const log = new CommitLog(r.redis, { prefix: p, bucketMs: 1000 });
    await log.begin('ds', plan(), { leaderToken: lease.token });
    await r.redis.set(speedLeaderKey(p), 'elsewhere:1:x');
    const err = await rejection(log.begin('ds', plan(), { leaderToken: lease.token }));
    expect(isStrataError(err, 'STRATA_E_SPEED_LEADER')).toBe(true);
    expect((err as Error).message).toContain('now held by elsewhere:1');
    expect((await log.listInflight('ds')).length).toBe(1);
    expect(await lease.lost).toMatchObject({ code: 'STRATA_E_SPEED_LEADER' }); // the renewal notices too
  });

  it('the lease of a killed process of this host is taken over at once', async () => {
    const p = prefix();
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('close', resolve));
    await r.redis.set(speedLeaderKey(p), `${os.hostname()}:${pid}:dead`, 'PX', 60_000);
    const lease = await acquireSpeedLease(r.redis, p, { ttlMs: 5000 });
    expect(await r.redis.get(speedLeaderKey(p))).toBe(lease.token);
    await lease.release();
    expect(await r.redis.get(speedLeaderKey(p))).toBeNull();
  });
});
