/**
 * The write path into the master dataset, on the local store and on a real S3 server: a commit
 * makes exactly the appended records visible, one day per folder, in order; an abort (or a store
 * failure) leaves master/ exactly as it was and tmp/ empty.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetAppender } from '../../../core/dataset/dataset-appender.ts';
import { utcDate } from '../../../core/dataset/dataset-layout.ts';
import { datasetStats } from '../../../core/dataset/dataset-stats.ts';
import { listDatasets, listSegments } from '../../../core/dataset/list-segments.ts';
import { isStrataError, StrataError } from '../../../core/errors.ts';
import { openSegment } from '../../../core/segment/open-segment.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectStore, PutBody } from '../../../core/store/store.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

/**
 * n records spread over `days` days, interleaved (day = i % days), so several segments are open at
 * once.
 */
function makeRecords(n: number, days: number): { record: Record<string, unknown>; time: number }[] {
  return Array.from({ length: n }, (_, i) => {
    const time = T0 + (i % days) * DAY + i;
    return {
      time,
      record: {
        time: new Date(time).toISOString(),
        i,
        page: `/p/${i % 13}`,
        pad: 'x'.repeat(i % 50),
      },
    };
  });
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

async function readDataset(
  store: ObjectStore,
  dataset: string,
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const s of await listSegments(store, dataset))
    for await (const r of (await openSegment(store, s.key, { size: s.size })).records())
      out.push(r);
  return out;
}

async function appendAll(
  appender: DatasetAppender,
  records: { record: Record<string, unknown>; time: number }[],
): Promise<void> {
  for (const { record, time } of records) {
    const wait = appender.append(record, time);
    if (wait) await wait;
  }
}

let s3: S3TestServer;
let dir: string;
const stores: Record<string, () => Promise<ObjectStore>> = {
  file: () => openStore(`file://${path.join(dir, `store-${Math.random().toString(36).slice(2)}`)}`),
  s3: () => openStore(s3.url('strata-test', `appender-${Math.random().toString(36).slice(2)}`)),
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-appender-'));
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe.each(['file', 's3'])('DatasetAppender on the %s store', (kind) => {
  it('commit makes every record visible in its UTC day folder, in append order, and empties tmp/', async () => {
    const store = await stores[kind]!();
    const records = makeRecords(6000, 3);
    const appender = new DatasetAppender(store, 'pv', {
      blockTargetBytes: 2048,
      segmentTargetBytes: 64 * 1024,
      timeField: 'time',
    });
    await appendAll(appender, records);
    expect(await keys(store, 'master/')).toEqual([]); // nothing visible before the commit
    const result = await appender.commit();
    expect(result.records).toBe(records.length);

    const segments = await listSegments(store, 'pv');
    expect(segments.map((s) => s.key)).toEqual(result.segments.map((s) => s.key).sort());
    expect(segments.length).toBeGreaterThan(3); // the 64 KiB target split each day
    expect(new Set(segments.map((s) => s.date))).toEqual(
      new Set(['2026-01-01', '2026-01-02', '2026-01-03']),
    );
    for (const s of segments) {
      const reader = await openSegment(store, s.key, { size: s.size });
      expect(utcDate(reader.footer.minTime!)).toBe(s.date);
      expect(utcDate(reader.footer.maxTime!)).toBe(s.date);
      expect(reader.footer.timeField).toBe('time');
    }
    // Listing order is append order: within a day, the records come back exactly as appended.
    const byDay = (rs: Record<string, unknown>[]) =>
      [0, 1, 2].map((d) => rs.filter((r) => (r.i as number) % 3 === d));
    expect(byDay(await readDataset(store, 'pv'))).toEqual(byDay(records.map((r) => r.record)));
    expect(await keys(store, 'tmp/')).toEqual([]);

    const stats = await datasetStats(store, 'pv');
    expect(stats).toMatchObject({
      name: 'pv',
      records: 6000,
      segments: segments.length,
      minTime: records[0]!.time,
      maxTime: Math.max(...records.map((r) => r.time)),
      firstDate: '2026-01-01',
      lastDate: '2026-01-03',
    });
    expect(stats.bytes).toBe(segments.reduce((n, s) => n + s.size, 0));
    await store.close();
  });

  it('abort leaves master/ exactly as it was and deletes every staged file', async () => {
    const store = await stores[kind]!();
    const first = new DatasetAppender(store, 'pv', { blockTargetBytes: 2048 });
    await appendAll(first, makeRecords(500, 2));
    await first.commit();
    const before = await keys(store, 'master/');

    const second = new DatasetAppender(store, 'pv', {
      blockTargetBytes: 2048,
      segmentTargetBytes: 16 * 1024,
    });
    await appendAll(second, makeRecords(3000, 4));
    expect(second.stagedKeys.length).toBeGreaterThan(4);
    await second.abort();
    expect(await keys(store, 'master/')).toEqual(before);
    expect(await keys(store, 'tmp/')).toEqual([]);
    expect((await datasetStats(store, 'pv')).records).toBe(500);
    expect(() => second.append({ time: 1 }, T0)).toThrow(/after aborted/);
    await store.close();
  });
});

describe('DatasetAppender failures and listing', () => {
  it('a store failure during a put reaches the appending caller; abort then leaves master/ untouched', async () => {
    const real = await stores.file!();
    let puts = 0;
    // The real store, except that the third segment put fails part way, as a full disk would.
    const failing: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
      put(key: string, body: PutBody) {
        if (++puts !== 3 || body instanceof Uint8Array) return real.put(key, body);
        return real.put(
          key,
          (async function* () {
            let n = 0;
            for await (const chunk of body) {
              if (++n > 3) throw new StrataError('STRATA_E_STORE_IO', 'disk full (injected)');
              yield chunk;
            }
          })(),
        );
      },
    });
    const appender = new DatasetAppender(failing, 'pv', {
      blockTargetBytes: 1024,
      segmentTargetBytes: 8 * 1024,
    });
    let caught: unknown;
    try {
      await appendAll(appender, makeRecords(5000, 1));
      await appender.commit();
    } catch (err) {
      caught = err;
      await appender.abort(err);
    }
    expect(isStrataError(caught, 'STRATA_E_STORE_IO')).toBe(true);
    expect(await keys(real, 'master/')).toEqual([]);
    expect(await keys(real, 'tmp/')).toEqual([]);
  });

  it('more days than maxOpenSegments close the least recently used day early and lose nothing', async () => {
    const store = await stores.file!();
    const appender = new DatasetAppender(store, 'many', {
      maxOpenSegments: 2,
      blockTargetBytes: 1024,
    });
    // Runs of 50 records cycling over 3 days: with 2 open segments, each run of a third day closes
    // one.
    const records = Array.from({ length: 900 }, (_, i) => ({
      time: T0 + (Math.floor(i / 50) % 3) * DAY + i,
      record: { i },
    }));
    await appendAll(appender, records);
    const result = await appender.commit();
    expect(result.segments).toHaveLength(18);
    expect((await datasetStats(store, 'many')).records).toBe(900);
    expect(
      (await readDataset(store, 'many')).map((r) => r.i as number).sort((a, b) => a - b),
    ).toEqual(records.map((r) => r.record.i));
  });

  it('listSegments prunes by day folder (inclusive), rejects bad ranges and unknown datasets; listDatasets names them all', async () => {
    const store = await stores.file!();
    for (const name of ['alpha', 'beta']) {
      const appender = new DatasetAppender(store, name);
      await appendAll(appender, makeRecords(100, 10)); // 2026-01-01 … 2026-01-10
      await appender.commit();
    }
    const dates = async (range: { from?: string; to?: string }) =>
      (await listSegments(store, 'alpha', range)).map((s) => s.date);
    expect(await dates({})).toHaveLength(10);
    expect(await dates({ from: '2026-01-03', to: '2026-01-05' })).toEqual([
      '2026-01-03',
      '2026-01-04',
      '2026-01-05',
    ]);
    expect(await dates({ from: '2026-01-09' })).toEqual(['2026-01-09', '2026-01-10']);
    expect(await dates({ to: '2026-01-01' })).toEqual(['2026-01-01']);
    expect(await dates({ from: '2026-01-10', to: '2026-01-10' })).toEqual(['2026-01-10']);
    expect(await dates({ from: '2025-12-01', to: '2025-12-31' })).toEqual([]);
    expect(
      (await datasetStats(store, 'alpha', { from: '2026-01-02', to: '2026-01-03' })).records,
    ).toBe(20);
    await expect(
      listSegments(store, 'alpha', { from: '2026-01-05', to: '2026-01-04' }),
    ).rejects.toMatchObject({ code: 'STRATA_E_DATE_RANGE' });
    await expect(listSegments(store, 'alpha', { from: '2026/01/05' })).rejects.toMatchObject({
      code: 'STRATA_E_DATE_RANGE',
    });
    await expect(listSegments(store, 'gamma')).rejects.toMatchObject({
      code: 'STRATA_E_DATASET_NOT_FOUND',
    });
    await expect(listSegments(store, 'Gamma')).rejects.toMatchObject({
      code: 'STRATA_E_DATASET_NAME',
    });
    // A stray file in a dataset folder is never taken for a segment.
    await store.put('master/alpha/dt=2026-01-01/README.txt', new TextEncoder().encode('hi'));
    expect(await dates({ to: '2026-01-01' })).toEqual(['2026-01-01']);
    expect(await listDatasets(store)).toEqual(['alpha', 'beta']);
  });
});
