/**
 * The scheduler end to end with a real coordinator, real Redis and BullMQ, a file store, and a
 * BullMQ Worker in the test process playing the worker's side (fabricated map results; reduces
 * write small real view files): maps → reduces → commit publishes; failures are retried or fail
 * the job as they should; a lost map output is re-run; a restarted coordinator finishes the job.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StrataConfig } from '../../core/config.ts';
import { StrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { ReduceTask } from '../../core/tasks/task-payload.ts';
import { storeSource } from '../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../core/viewfile/view-file-reader.ts';
import { readCurrentVersion, readManifest } from '../../core/views/view-layout.ts';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/start-coordinator.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import {
  api,
  failWith,
  keysUnder,
  putBundle,
  specFor,
  startFakeWorker,
  testConfig,
  waitForJob,
  writeDataset,
  type FakeWorker,
} from './coordinator-fixture.ts';

let redis: TestRedis;
let dir: string;
let store: ObjectStore;
let codeHash: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  redis = await startTestRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-sched-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
  await writeDataset(store, 'pv', { days: 2, perDay: 300 }); // two segments of ~40 KB
  codeHash = await putBundle(store);
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await store?.close();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A coordinator on its own prefix; each test publishes its own view. */
async function cluster(
  overrides: Record<string, string | number> = {},
): Promise<{ config: StrataConfig; coordinator: RunningCoordinator }> {
  const config = testConfig({
    redisUrl: redis.url,
    storeDir: path.join(dir, 'store'),
    home: dir,
    overrides: { splitTargetBytes: 16 * 1024, ...overrides },
  });
  const coordinator = await startCoordinator(config, { pollMs: 200 });
  cleanups.push(() => coordinator.stop());
  return { config, coordinator };
}

async function worker(
  config: StrataConfig,
  opts: Omit<Parameters<typeof startFakeWorker>[0], 'redisUrl' | 'prefix' | 'store'> = {},
): Promise<FakeWorker> {
  const w = await startFakeWorker({
    redisUrl: redis.url,
    prefix: config.redisPrefix,
    store,
    ...opts,
  });
  cleanups.push(() => w.close());
  return w;
}

async function submit(url: string, view: string): Promise<{ id: string; maps: number }> {
  const res = await api(url, 'POST', '/v1/jobs', { spec: specFor(codeHash, { name: view, view }) });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return { id: res.json.id, maps: res.json.phases.map.total };
}

async function subscribe(prefix: string): Promise<{ messages: unknown[]; conn: Redis }> {
  const conn = await connectRedis(redis.url, { role: 'subscriber' });
  cleanups.push(async () => conn.disconnect());
  const messages: unknown[] = [];
  conn.on('message', (_channel: string, message: string) => messages.push(JSON.parse(message)));
  await conn.subscribe(`${prefix}:views`);
  return { messages, conn };
}

async function readPart(key: string): Promise<unknown> {
  const reader = await ViewFileReader.open(await storeSource(store, key));
  try {
    const entries: unknown[] = [];
    for await (const e of reader.scan({})) entries.push(e);
    return entries;
  } finally {
    await reader.close();
  }
}

describe('scheduler', () => {
  it('runs maps, then reduces with every map location, then commits: parts, manifest, _CURRENT, announcement, tmp/ cleaned', async () => {
    const { config, coordinator } = await cluster();
    const announced = await subscribe(config.redisPrefix);
    const w = await worker(config);
    const { id, maps } = await submit(coordinator.url, 'happy');
    expect(maps).toBeGreaterThanOrEqual(4);
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.version).toMatch(/^v\d{13}-/);
    expect(done.phases).toMatchObject({
      map: { total: maps, done: maps, running: 0, failed: 0 },
      reduce: { total: 2, done: 2, running: 0, failed: 0 },
    });
    expect(done.phases.map.counters.recordsIn).toBe(600);
    expect(done.phases.reduce.counters.recordsOut).toBe(2);
    expect(done.counters.recordsIn).toBe(600 + 2 * maps); // maps read 600 records; each reduce counted its map outputs

    // Reduces ran only after every map, each with every map's location.
    const reduces = w.seen.filter((t): t is ReduceTask => t.kind === 'reduce');
    expect(w.seen.findIndex((t) => t.kind === 'reduce')).toBe(maps);
    for (const r of reduces)
      expect(r.mapOutputs.map((o) => o.mapOutputId)).toEqual(
        Array.from({ length: maps }, (_, i) => `${id}/m-${i}-a1`),
      );

    expect(await readCurrentVersion(store, 'happy')).toBe(done.version);
    const manifest = await readManifest(store, 'happy', done.version);
    expect(manifest).toMatchObject({
      view: 'happy',
      version: done.version,
      jobId: id,
      partitions: 2,
      job: { codeHash },
      records: 2,
    });
    expect(manifest.inputSegments).toHaveLength(2);
    expect(manifest.inputSegments.reduce((n, s) => n + s.records, 0)).toBe(600);
    expect(manifest.tasks).toHaveLength(maps + 2);
    expect(manifest.tasks.every((t) => t.attempts === 1 && t.worker === 'w1')).toBe(true);
    expect(manifest.times.finished).toBeGreaterThanOrEqual(manifest.times.mapsDone);
    expect(manifest.parts.map((p) => p.key)).toEqual([
      `views/happy/${done.version}/part-0.sv`,
      `views/happy/${done.version}/part-1.sv`,
    ]);
    expect(await readPart(manifest.parts[1]!.key)).toEqual([
      [['p1'], { fetched: reduces[0]!.mapOutputs.map((o) => o.mapOutputId) }],
    ]);
    await expect.poll(() => announced.messages).toEqual([{ view: 'happy', version: done.version }]);
    expect(await keysUnder(store, `tmp/jobs/${id}/`)).toEqual([]);
  });

  it('a retryable failure runs the task again as the next attempt, up to taskAttempts', async () => {
    const { config, coordinator } = await cluster({ taskAttempts: 3 });
    const flaky = new StrataError('STRATA_E_STORE_IO', 'store hiccup reading the split');
    await worker(config, {
      behaviour: async (task, d) => {
        if (task.taskId === 'm-1' && task.attempt === 1) failWith(flaky);
        if (task.taskId === 'r-1' && task.attempt <= 2) failWith(flaky);
        return task.kind === 'map' ? d.map() : d.reduce();
      },
    });
    const { id } = await submit(coordinator.url, 'flaky');
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const attempts = Object.fromEntries(
      done.tasks.map((t: { taskId: string; attempt: number }) => [t.taskId, t.attempt]),
    );
    expect(attempts).toMatchObject({ 'm-0': 1, 'm-1': 2, 'r-0': 1, 'r-1': 3 });
    expect(done.phases.map.failed).toBe(1);
    expect(done.phases.reduce.failed).toBe(2);
    const manifest = await readManifest(store, 'flaky', done.version);
    expect(manifest.tasks.find((t) => t.taskId === 'r-1')!.attempts).toBe(3);
    expect(manifest.parts[1]!.key).toBe(`views/flaky/${done.version}/part-1.sv`);
  });

  it('a task that runs out of attempts fails the job with STRATA_E_JOB_FAILED whose cause is the last error', async () => {
    const flaky = new StrataError('STRATA_E_STORE_IO', 'store hiccup reading the split');
    const { coordinator: strict, config: strictConfig } = await cluster({ taskAttempts: 2 });
    await worker(strictConfig, {
      behaviour: async (task, d) =>
        task.taskId === 'm-0' ? failWith(flaky) : task.kind === 'map' ? d.map() : d.reduce(),
    });
    const { id: failing } = await submit(strict.url, 'exhausted');
    const failed = await waitForJob(strict.url, failing, ['succeeded', 'failed']);
    expect(failed.state).toBe('failed');
    expect(failed.error.code).toBe('STRATA_E_JOB_FAILED');
    expect(failed.error.message).toContain('task m-0');
    expect(failed.error.message).toContain('store hiccup reading the split');
    expect(failed.error.cause).toMatchObject({ code: 'STRATA_E_STORE_IO', message: flaky.message });
    expect(failed.tasks.find((t: { taskId: string }) => t.taskId === 'm-0')).toMatchObject({
      state: 'failed',
      attempt: 2,
    });
    expect(await readCurrentVersion(store, 'exhausted')).toBeUndefined();
  });

  it("a non-retryable map failure fails the job at once with the user's error intact and publishes nothing", async () => {
    const { config, coordinator } = await cluster();
    const announced = await subscribe(config.redisPrefix);
    const userError = new StrataError(
      'STRATA_E_JOB_MAP_FAILED',
      'map threw on segment master/pv/dt=2026-01-01/x.seg block 2 record 17: TypeError: Cannot read properties of undefined (reading "url")',
      {
        details: { segmentKey: 'master/pv/dt=2026-01-01/x.seg', block: 2, record: 17 },
      },
    );
    userError.stack = `StrataError: ${userError.message}\n    at map (file:///code/abc.mjs:12:31)`;
    const w = await worker(config, {
      behaviour: async (task, d) => {
        if (task.taskId === 'm-0') failWith(userError);
        if (task.kind === 'map') await new Promise((r) => setTimeout(r, 100));
        return task.kind === 'map' ? d.map() : d.reduce();
      },
      workerOptions: { concurrency: 1 },
    });
    const { id, maps } = await submit(coordinator.url, 'broken');
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'STRATA_E_JOB_MAP_FAILED',
      message: userError.message,
      stack: userError.stack,
      details: { block: 2, record: 17 },
    });
    expect(done.tasks.find((t: { taskId: string }) => t.taskId === 'm-0')).toMatchObject({
      state: 'failed',
      attempt: 1,
      error: { message: userError.message },
    });
    // Not retried; the tasks not yet run were cancelled and never reached the worker.
    await new Promise((r) => setTimeout(r, 400));
    expect(w.seen.filter((t) => t.taskId === 'm-0')).toHaveLength(1);
    expect(w.seen.filter((t) => t.kind === 'reduce')).toHaveLength(0);
    expect(w.seen.length).toBeLessThan(maps);
    expect(
      done.tasks.filter((t: { state: string }) => t.state === 'cancelled').length,
    ).toBeGreaterThan(0);
    expect(await keysUnder(store, 'views/broken/')).toEqual([]);
    expect(await keysUnder(store, `tmp/jobs/${id}/`)).toEqual([]);
    expect(announced.messages).toEqual([]);
  });

  it('a reduce that cannot fetch a map output re-runs that map and then runs again with the new location', async () => {
    const { config, coordinator } = await cluster();
    let lost = '';
    const w = await worker(config, {
      behaviour: async (task, d) => {
        if (task.kind === 'reduce' && task.taskId === 'r-0' && task.attempt === 1) {
          lost = task.mapOutputs[1]!.mapOutputId;
          failWith(
            new StrataError(
              'STRATA_E_SHUFFLE_FETCH_FAILED',
              `fetching partition 0 of map output ${lost} failed: not found`,
              {
                details: {
                  mapOutputId: lost,
                  address: task.mapOutputs[1]!.address,
                  partition: 0,
                  reason: 'not-found',
                },
              },
            ),
          );
        }
        return task.kind === 'map' ? d.map() : d.reduce();
      },
    });
    const { id } = await submit(coordinator.url, 'refetch');
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(lost).toBe(`${id}/m-1-a1`);
    const attempts = Object.fromEntries(
      done.tasks.map((t: { taskId: string; attempt: number }) => [t.taskId, t.attempt]),
    );
    expect(attempts).toMatchObject({ 'm-0': 1, 'm-1': 2, 'r-0': 2 });
    expect(w.seen.filter((t) => t.taskId === 'm-1').map((t) => t.attempt)).toEqual([1, 2]);
    const retried = w.seen.find((t): t is ReduceTask => t.taskId === 'r-0' && t.attempt === 2)!;
    expect(retried.mapOutputs[1]!.mapOutputId).toBe(`${id}/m-1-a2`);
    expect(retried.outputKey).toBe(`tmp/jobs/${id}/r-0-a2.sv`);
    // A lost output is nobody's failure: nothing was counted against the tasks.
    expect(done.phases.map.failed + done.phases.reduce.failed).toBe(0);
    const manifest = await readManifest(store, 'refetch', done.version);
    expect(await readPart(manifest.parts[0]!.key)).toEqual([
      [['p0'], { fetched: retried.mapOutputs.map((o) => o.mapOutputId) }],
    ]);
  });

  it('when the worker holding a lost output is registered but no longer alive, every map it ran is re-run', async () => {
    const { config, coordinator } = await cluster();
    const conn = await connectRedis(redis.url, { role: 'command' });
    cleanups.push(async () => conn.disconnect());
    // w1 registered itself once; its heartbeat key (P:worker:w1:alive) has expired.
    await conn.hset(
      `${config.redisPrefix}:workers`,
      'w1',
      JSON.stringify({ id: 'w1', address: '127.0.0.1:11' }),
    );
    await worker(config, {
      behaviour: async (task, d) => {
        if (task.kind === 'reduce' && task.taskId === 'r-1' && task.attempt === 1) {
          failWith(
            new StrataError('STRATA_E_SHUFFLE_FETCH_FAILED', 'peer gone', {
              details: { mapOutputId: task.mapOutputs[0]!.mapOutputId, reason: 'unavailable' },
            }),
          );
        }
        return task.kind === 'map' ? d.map() : d.reduce();
      },
    });
    const { id, maps } = await submit(coordinator.url, 'deadworker');
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const attempts = done.tasks.map(
      (t: { taskId: string; attempt: number }) => `${t.taskId}.${t.attempt}`,
    );
    expect(attempts).toEqual([
      ...Array.from({ length: maps }, (_, i) => `m-${i}.2`),
      'r-0.1',
      'r-1.2',
    ]);
  });

  it('a coordinator stopped mid-job and started again finishes it, with no task run twice', async () => {
    const { config, coordinator } = await cluster();
    const { id, maps } = await submit(coordinator.url, 'restart');
    await coordinator.stop(); // maps are queued; nobody is listening while they run
    const w = await worker(config);
    await expect.poll(() => w.seen.length, { timeout: 10_000 }).toBe(maps);
    await new Promise((r) => setTimeout(r, 100));
    const again = await startCoordinator(config, { pollMs: 200 });
    cleanups.push(() => again.stop());
    const done = await waitForJob(again.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(w.seen.map((t) => `${t.taskId}.${t.attempt}`).sort()).toEqual(
      [...Array.from({ length: maps }, (_, i) => `m-${i}.1`), 'r-0.1', 'r-1.1'].sort(),
    );
    expect(await readCurrentVersion(store, 'restart')).toBe(done.version);
  });

  it("a worker that dies mid-task loses its attempt: BullMQ's stall check fails it and the coordinator runs it again", async () => {
    const { config, coordinator } = await cluster({ lockDurationMs: 1000 });
    let taken!: () => void;
    const tookIt = new Promise<void>((r) => (taken = r));
    const dying = await startFakeWorker({
      redisUrl: redis.url,
      prefix: config.redisPrefix,
      store,
      workerId: 'dying',
      // Every worker of a queue needs the same short stalledInterval: the first stall check of any
      // worker blocks the others' for its own interval (BullMQ's stalled-check key).
      workerOptions: {
        lockDuration: 1000,
        stalledInterval: 300,
        maxStalledCount: 0,
        concurrency: 1,
      },
      behaviour: () => {
        taken();
        return new Promise(() => {}); // hangs, as a SIGKILLed process would never answer
      },
    });
    const { id } = await submit(coordinator.url, 'lost');
    await tookIt;
    await dying.close(); // stops renewing the lock
    const healthy = await worker(config, {
      workerId: 'healthy',
      workerOptions: { lockDuration: 1000, stalledInterval: 300, maxStalledCount: 0 },
    });
    const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const m0 = done.tasks.find((t: { taskId: string }) => t.taskId === 'm-0');
    expect(m0).toMatchObject({
      attempt: 2,
      worker: 'healthy',
      error: { code: 'STRATA_E_TASK_LOST' },
    });
    expect(healthy.seen.some((t) => t.taskId === 'm-0' && t.attempt === 2)).toBe(true);
  });
});
