/**
 * Real `strata worker` processes against a real redis-server and a file store, the test playing
 * the coordinator with a BullMQ Queue: map and reduce tasks across two workers give the view
 * runLocal gives, failures come back as StrataError JSON, plain tasks round-trip, and a task
 * survives its worker being stopped or killed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocal } from 'strata';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import { compareBytes, decodeKey, encodeKey } from '../../core/keys/key-codec.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import {
  bullJobId,
  TASK_QUEUE,
  type CallResult,
  type CallTask,
  type MapResult,
  type ReduceResult,
  type ReduceTask,
  type Split,
  type Task,
} from '../../core/tasks/task-payload.ts';
import { storeSource } from '../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../core/viewfile/view-file-reader.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import pageviews, { type Pageview } from '../../examples/web-analytics/pageviews.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { spawnWorker, type WorkerChild } from './support/worker-child.ts';
import {
  bundleJob,
  fixture,
  ingest,
  mapTasks,
  repoRoot,
  splitsOf,
  tempStore,
  type Bundle,
  type TempStore,
} from './support/worker-fixtures.ts';

const TOKEN = `tok-${randomBytes(6).toString('hex')}`;
const PREFIX = `wt${randomBytes(4).toString('hex')}`;

let redis: TestRedis;
let t: TempStore;
let home: string;
let connection: Redis;
let eventsConnection: Redis;
let queue: Queue;
let events: QueueEvents;
let workers: WorkerChild[] = [];
let splits: Split[];
let inputs: Record<string, unknown>[];
let bundles: Record<'pageviews' | 'throws' | 'plain', Bundle>;

beforeAll(async () => {
  [redis, t] = await Promise.all([startTestRedis(), tempStore()]);
  home = await mkdtemp(path.join(os.tmpdir(), 'strata-worker-home-'));
  const records = [...generatePageviews({ count: 6000, seed: 11, days: 2 })].map((e, seq) => ({
    ...e,
    seq,
  }));
  await ingest(t.store, 'pageviews', records);
  splits = await splitsOf(t.store, 'pageviews', 4);
  inputs = [];
  for (const s of splits)
    for await (const r of (await openSegment(t.store, s.segmentKey)).records({
      fromBlock: s.startBlock,
      toBlock: s.endBlock,
    }))
      inputs.push(r);
  bundles = {
    pageviews: await bundleJob(t.store, path.join(repoRoot, 'examples/web-analytics/pageviews.ts')),
    throws: await bundleJob(t.store, fixture('throws-on-record.ts')),
    plain: await bundleJob(t.store, fixture('plain-tasks.ts')),
  };
  connection = await connectRedis(redis.url, { role: 'queue', name: 'test' });
  eventsConnection = await connectRedis(redis.url, { role: 'queue', name: 'test-events' });
  queue = new Queue(TASK_QUEUE, { connection, prefix: PREFIX });
  events = new QueueEvents(TASK_QUEUE, { connection: eventsConnection, prefix: PREFIX });
  queue.setMaxListeners(100);
  events.setMaxListeners(100);
  await events.waitUntilReady();
  const env = (i: number) => ({
    STRATA_REDIS_URL: redis.url,
    STRATA_REDIS_PREFIX: PREFIX,
    STRATA_TOKEN: TOKEN,
    STRATA_STORE: t.url,
    STRATA_HOME: home,
    STRATA_WORK_DIR: path.join(home, `work-${i}`),
    STRATA_WORKER_THREADS: '1',
    // Small enough that the map tasks spill.
    STRATA_MEMORY_BUDGET_BYTES: String(16 * 1024),
    STRATA_LOCK_DURATION_MS: '1500',
    STRATA_HEARTBEAT_MS: '500',
    STRATA_LOG_LEVEL: 'info',
  });
  workers = await Promise.all([0, 1, 2].map((i) => spawnWorker(env(i), ['--grace-ms', '300'])));
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await events?.close();
  await queue?.close();
  await Promise.all([connection?.quit(), eventsConnection?.quit()]);
  await redis?.stop();
  await t?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
});

async function enqueue(task: Task): Promise<Job> {
  return queue.add(task.kind, task, { jobId: bullJobId(task), attempts: 1 });
}

async function failureOf(job: Job): Promise<StrataError> {
  const err = await job.waitUntilFinished(events, 30_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the task should have failed').toBeInstanceOf(Error);
  const failed = await queue.getJob(job.id!);
  expect(await failed!.getState()).toBe('failed');
  return StrataError.fromJSON(JSON.parse(failed!.failedReason) as StrataErrorJSON);
}

async function whenActive(id: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const job = await queue.getJob(id);
    if (job && (await job.getState()) === 'active' && job.processedBy) return job.processedBy;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`task ${id} never became active`);
}

const call = (
  taskId: string,
  exportName: string,
  args: unknown[],
  codeHash = bundles.plain.codeHash,
): CallTask => ({ kind: 'call', jobId: 'calls', taskId, attempt: 1, codeHash, exportName, args });

describe('strata worker (real processes, real Redis)', () => {
  it('registers each worker in Redis with its shuffle address and a heartbeat key', async () => {
    const command = await connectRedis(redis.url, { role: 'command' });
    for (const w of workers) {
      const info = JSON.parse((await command.hget(`${PREFIX}:workers`, w.id))!) as {
        address: string;
        pid: number;
        threads: number;
      };
      expect(info).toMatchObject({ address: w.address, pid: w.pid, threads: 1 });
      const ttl = await command.pttl(`${PREFIX}:worker:${w.id}:alive`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1500);
    }
    await command.quit();
  });

  it('runs hand-enqueued map and reduce tasks across workers into a view equal to runLocal', async () => {
    const jobId = 'pv1';
    const maps = mapTasks(jobId, bundles.pageviews.codeHash, splits, pageviews.partitions);
    const mapResults = (await Promise.all(
      (await Promise.all(maps.map(enqueue))).map((j) => j.waitUntilFinished(events, 60_000)),
    )) as MapResult[];
    expect(new Set(mapResults.map((r) => r.workerId)).size).toBeGreaterThan(1);
    for (const [i, r] of mapResults.entries()) {
      expect(r.kind).toBe('map');
      expect(r.output).toEqual({
        taskId: maps[i]!.taskId,
        mapOutputId: `${jobId}/${maps[i]!.taskId}-a1`,
        address: workers.find((w) => w.id === r.workerId)!.address,
      });
      expect(r.counters.recordsIn).toBe(maps[i]!.split.records);
    }
    expect(mapResults.reduce((n, r) => n + r.counters.spills, 0)).toBeGreaterThan(0);

    const reduces: ReduceTask[] = Array.from({ length: pageviews.partitions }, (_, p) => ({
      kind: 'reduce',
      jobId,
      taskId: `r-${p}`,
      attempt: 1,
      codeHash: bundles.pageviews.codeHash,
      partition: p,
      mapOutputs: mapResults.map((r) => r.output),
      outputKey: `tmp/jobs/${jobId}/r-${p}-a1.sv`,
      params: {},
    }));
    const reduceResults = (await Promise.all(
      (await Promise.all(reduces.map(enqueue))).map((j) => j.waitUntilFinished(events, 60_000)),
    )) as ReduceResult[];
    const rows: Array<[Uint8Array, unknown]> = [];
    for (const r of reduceResults) {
      const reader = await ViewFileReader.open(await storeSource(t.store, r.outputKey));
      expect(reader.count).toBe(r.counters.recordsOut);
      for await (const [key, value] of reader.entries()) rows.push([encodeKey(key), value]);
      await reader.close();
    }
    rows.sort((a, b) => compareBytes(a[0], b[0]));
    expect(rows.map(([k, v]) => [decodeKey(k), v])).toEqual(
      await runLocal(pageviews, inputs as unknown as Pageview[]),
    );
  });

  it('a user map that throws fails the task with StrataError JSON naming the segment, block and record', async () => {
    const [task] = mapTasks('bad1', bundles.throws.codeHash, splits.slice(2, 3), 2, {
      badSeq: (inputs[splits[0]!.records + splits[1]!.records + 7] as { seq: number }).seq,
    });
    const err = await failureOf(await enqueue(task!));
    expect(err.code).toBe('STRATA_E_JOB_MAP_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.details).toMatchObject({
      job: 'throws-on-record',
      segmentKey: splits[2]!.segmentKey,
      position: 7,
    });
    expect(err.message).toMatch(
      /map threw on the record at position 7 of split m-0 \(record \d+ of block \d+ of segment master\/pageviews\//,
    );
    expect(err.message).toContain('The record: {"time":');
    expect(err.cause).toMatchObject({
      name: 'RangeError',
      message: expect.stringContaining('is the bad one'),
    });
    expect((err.cause as Error).stack).toMatch(/RangeError: record \d+ is the bad one\n\s+at /);
  });

  it('a bundle whose bytes do not match its hash fails the task with STRATA_E_BUNDLE', async () => {
    const fake = 'ab'.repeat(32);
    await t.store.put(`code/${fake}.mjs`, new TextEncoder().encode('export default 1;\n'));
    const err = await failureOf(await enqueue(call('c-hash', 'add', [1, 2], fake)));
    expect(err.code).toBe('STRATA_E_BUNDLE');
    expect(err.message).toContain(`has sha256 `);
    expect(err.details).toMatchObject({ expected: fake });
  });

  it('plain tasks: a call returns its value; what the function throws, a value JSON cannot carry, or a missing export fail with StrataError JSON', async () => {
    const [sum, stats] = await Promise.all([
      enqueue(call('c-add', 'add', [2, 3])),
      enqueue(call('c-stats', 'stats', [[4, 1, 7]])),
    ]);
    const added = (await sum.waitUntilFinished(events, 30_000)) as CallResult;
    expect(added).toMatchObject({ kind: 'call', value: 5 });
    expect(workers.map((w) => w.id)).toContain(added.workerId);
    expect(((await stats.waitUntilFinished(events, 30_000)) as CallResult).value).toEqual({
      n: 3,
      sum: 12,
      max: 7,
    });

    const thrown = await failureOf(await enqueue(call('c-boom', 'boom', ['kaput'])));
    expect(thrown.code).toBe('STRATA_E_CALL_FAILED');
    expect(thrown.message).toContain('boom() of bundle');
    expect(thrown.cause).toMatchObject({ name: 'TypeError', message: 'boom: kaput' });
    expect((thrown.cause as Error).stack).toContain('at boom');

    const bytes = await failureOf(await enqueue(call('c-bytes', 'bytes', [])));
    expect(bytes.code).toBe('STRATA_E_JOB_VALUE');
    expect(bytes.message).toContain('value is a Uint8Array');

    const crashed = await failureOf(await enqueue(call('c-exit', 'exitThread', [])));
    expect(crashed.code).toBe('STRATA_E_INTERNAL');
    expect(crashed.retryable).toBe(true);
    expect(crashed.message).toContain('the task thread running a call task died');
    // The pool replaced the thread: the worker goes on taking tasks.
    expect(
      (
        (await (
          await enqueue(call('c-after-exit', 'add', [1, 1]))
        ).waitUntilFinished(events, 30_000)) as CallResult
      ).value,
    ).toBe(2);

    const missing = await failureOf(await enqueue(call('c-missing', 'nope', [])));
    expect(missing.code).toBe('STRATA_E_BUNDLE');
    expect(missing.message).toMatch(
      /no exported function "nope"; its exported functions are: .*add/,
    );
  });

  it('SIGTERM puts a running task back on the queue for another worker, removes the alive key and exits 0', async () => {
    const job = await enqueue(call('c-release', 'sleep', [2500]));
    const id = await whenActive(job.id!);
    const holder = workers.find((w) => w.id === id)!;
    const started = Date.now();
    expect(await holder.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5000); // grace 300 ms, not the 2.5 s task
    const result = (await job.waitUntilFinished(events, 30_000)) as CallResult;
    expect(result.value).toBe(2500);
    expect(result.workerId).not.toBe(holder.id);
    const command = await connectRedis(redis.url, { role: 'command' });
    expect(await command.exists(`${PREFIX}:worker:${holder.id}:alive`)).toBe(0);
    expect(await command.hexists(`${PREFIX}:workers`, holder.id)).toBe(1);
    await command.quit();
    workers = workers.filter((w) => w !== holder);
  });

  it('a task whose worker is killed (SIGKILL) is run again by another worker once its lock expires', async () => {
    const job = await enqueue(call('c-killed', 'sleep', [1500]));
    const id = await whenActive(job.id!);
    const victim = workers.find((w) => w.id === id)!;
    await victim.kill('SIGKILL');
    workers = workers.filter((w) => w !== victim);
    const result = (await job.waitUntilFinished(events, 30_000)) as CallResult;
    expect(result.value).toBe(1500);
    expect(result.workerId).not.toBe(victim.id);
  });
});
