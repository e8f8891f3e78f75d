/**
 * What a real `strata worker` process (two task threads) does with attempts the coordinator
 * races or withdraws, the test playing the coordinator with a BullMQ queue on a real Redis:
 * - two attempts of one task never run on it at once: the second waits on the queue (for another
 *   worker, or for the first to end), even with a thread free;
 * - an attempt cancelled on the task-cancel channel is aborted at once, its thread terminated, and
 *   reported as STRATA_E_TASK_CANCELLED with the coordinator's reason; the worker keeps working.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import { encodeTaskCancel, taskCancelChannel } from '../../core/redis/cluster-keys.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { bullJobId, TASK_QUEUE, type MapTask, type Split } from '../../core/tasks/task-payload.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { spawnWorker, type WorkerChild } from '../worker/support/worker-child.ts';
import {
  bundleJob,
  ingest,
  splitsOf,
  tempStore,
  type TempStore,
} from '../worker/support/worker-fixtures.ts';

const PREFIX = `ta${randomBytes(4).toString('hex')}`;
let redis: TestRedis;
let t: TempStore;
let home: string;
let connection: Redis;
let eventsConnection: Redis;
let queue: Queue;
let events: QueueEvents;
let worker: WorkerChild;
let split: Split;
let codeHash: string;

beforeAll(async () => {
  [redis, t] = await Promise.all([startTestRedis(), tempStore()]);
  home = await mkdtemp(path.join(os.tmpdir(), 'strata-attempts-'));
  await ingest(t.store, 'pageviews', [
    ...generatePageviews({ count: 2000, seed: 3, days: 1 }),
  ] as unknown as Record<string, unknown>[]);
  split = (await splitsOf(t.store, 'pageviews', 1000))[0]!;
  codeHash = (await bundleJob(t.store, path.join(import.meta.dirname, 'support/visits-job.ts')))
    .codeHash;
  connection = await connectRedis(redis.url, { role: 'queue', name: 'test' });
  eventsConnection = await connectRedis(redis.url, { role: 'queue', name: 'test-events' });
  queue = new Queue(TASK_QUEUE, { connection, prefix: PREFIX });
  events = new QueueEvents(TASK_QUEUE, { connection: eventsConnection, prefix: PREFIX });
  await events.waitUntilReady();
  worker = await spawnWorker({
    STRATA_REDIS_URL: redis.url,
    STRATA_REDIS_PREFIX: PREFIX,
    STRATA_TOKEN: 'tok',
    STRATA_STORE: t.url,
    STRATA_HOME: home,
    STRATA_WORK_DIR: path.join(home, 'work'),
    STRATA_WORKER_THREADS: '2',
    STRATA_LOCK_DURATION_MS: '2000',
    STRATA_HEARTBEAT_MS: '500',
    STRATA_LOG_LEVEL: 'info',
  });
}, 60_000);
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await events?.close();
  await queue?.close();
  connection?.disconnect();
  eventsConnection?.disconnect();
  await redis?.stop();
  await t?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
});

/**
 * One attempt of map m-0 of `jobId`; the visits job pauses `mapPauseMs` every 100 records (2000
 * records here).
 */
function attempt(jobId: string, n: number, mapPauseMs: number): MapTask {
  return {
    kind: 'map',
    jobId,
    taskId: 'm-0',
    attempt: n,
    codeHash,
    split,
    partitions: 2,
    params: { mapPauseMs },
  };
}

async function enqueue(task: MapTask): Promise<Job> {
  return queue.add(task.kind, task, { jobId: bullJobId(task), attempts: 1 });
}

async function whenActive(id: string): Promise<void> {
  await expect
    .poll(async () => (await queue.getJob(id))?.getState(), { timeout: 20_000, interval: 25 })
    .toBe('active');
}

it('a second attempt of a task it is running waits, even with a thread free, and runs once the first is done', async () => {
  const first = await enqueue(attempt('j1', 1, 100)); // ~2 s
  await whenActive(first.id!);
  const second = await enqueue(attempt('j1', 2, 0));
  await first.waitUntilFinished(events, 30_000);
  await second.waitUntilFinished(events, 30_000);
  const [a, b] = await Promise.all([queue.getJob(first.id!), queue.getJob(second.id!)]);
  expect(b!.processedOn!).toBeGreaterThanOrEqual(a!.finishedOn! - 600); // not before the first ended (give or take one re-offer)
  expect(b!.attemptsStarted).toBeGreaterThan(1); // offered to this worker, and put back
  expect(a!.returnvalue).toMatchObject({ kind: 'map', output: { mapOutputId: 'j1/m-0-a1' } });
  expect(b!.returnvalue).toMatchObject({ kind: 'map', output: { mapOutputId: 'j1/m-0-a2' } });
});

it('a running attempt cancelled on the task-cancel channel is aborted at once and reported as STRATA_E_TASK_CANCELLED; the worker carries on', async () => {
  const slow = await enqueue(attempt('j2', 1, 1000)); // ~20 s if left alone
  await whenActive(slow.id!);
  const publisher = await connectRedis(redis.url, { role: 'command' });
  const t0 = Date.now();
  await publisher.publish(
    taskCancelChannel(PREFIX),
    encodeTaskCancel({ ids: [slow.id!], reason: 'attempt 2 of task m-0 finished first' }),
  );
  publisher.disconnect();
  await expect(slow.waitUntilFinished(events, 10_000)).rejects.toThrow();
  expect(Date.now() - t0).toBeLessThan(5000);
  const failed = (await queue.getJob(slow.id!))!;
  const error = StrataError.fromJSON(JSON.parse(failed.failedReason) as StrataErrorJSON);
  expect(error.code).toBe('STRATA_E_TASK_CANCELLED');
  expect(error.message).toContain('attempt 2 of task m-0 finished first');
  const next = await enqueue(attempt('j3', 1, 0));
  expect(await next.waitUntilFinished(events, 20_000)).toMatchObject({
    kind: 'map',
    output: { mapOutputId: 'j3/m-0-a1' },
  });
});
