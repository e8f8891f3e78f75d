/**
 * Shared parts of the coordinator tests: a config on a temp store and a random Redis prefix,
 * datasets written with the real DatasetAppender, a bundle in the store, and a BullMQ Worker in
 * the test process that plays the worker's side with fabricated results (writing small, real
 * view files for reduces).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, type StrataConfig } from '../../core/config.ts';
import { DatasetAppender } from '../../core/dataset/dataset-appender.ts';
import type { StrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import {
  mapOutputId,
  TASK_QUEUE,
  type JobSpec,
  type MapResult,
  type MapTask,
  type ReduceResult,
  type ReduceTask,
} from '../../core/tasks/task-payload.ts';
import { encodeViewFile } from '../../core/viewfile/view-file-writer.ts';

export const DAY = 86_400_000;
export const T0 = Date.UTC(2026, 0, 1);

export function randomPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export function testConfig(opts: {
  redisUrl: string;
  storeDir: string;
  home: string;
  prefix?: string;
  overrides?: Record<string, string | number>;
}): StrataConfig {
  return loadConfig({
    env: {},
    cwd: opts.home,
    overrides: {
      home: opts.home,
      store: `file://${opts.storeDir}`,
      redisUrl: opts.redisUrl,
      redisPrefix: opts.prefix ?? randomPrefix(),
      token: 'test-token',
      coordinatorPort: 0,
      taskAttempts: 3,
      lockDurationMs: 2000,
      logLevel: 'silent',
      ...opts.overrides,
    },
  });
}

/** `perDay` records on each of `days` days from 2026-01-01, with a pad so blocks fill up. */
export async function writeDataset(
  store: ObjectStore,
  dataset: string,
  opts: { days: number; perDay: number; blockTargetBytes?: number; pad?: number },
): Promise<void> {
  const appender = new DatasetAppender(store, dataset, {
    blockTargetBytes: opts.blockTargetBytes ?? 4096,
    timeField: 'time',
  });
  for (let d = 0; d < opts.days; d++) {
    for (let i = 0; i < opts.perDay; i++) {
      const time = T0 + d * DAY + i * 1000;
      const wait = appender.append(
        { time, page: `/p/${i % 7}`, i, pad: 'x'.repeat(opts.pad ?? 100) },
        time,
      );
      if (wait) await wait;
    }
  }
  await appender.commit();
}

export async function putBundle(
  store: ObjectStore,
  source = `export default { kind: 'strata.job' }; // ${randomBytes(4).toString('hex')}\n`,
): Promise<string> {
  const bytes = new TextEncoder().encode(source);
  const hash = createHash('sha256').update(bytes).digest('hex');
  await store.put(`code/${hash}.mjs`, bytes);
  return hash;
}

export function specFor(codeHash: string, overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'pages',
    view: 'pages',
    input: { dataset: 'pv' },
    partitions: 2,
    reduce: 'aggregate:count',
    combine: true,
    params: {},
    codeHash,
    ...overrides,
  };
}

/** What the test worker does with one attempt: return a result, or throw (use failWith). */
export type Behaviour = (
  task: MapTask | ReduceTask,
  defaults: { map: () => MapResult; reduce: () => Promise<ReduceResult> },
) => Promise<MapResult | ReduceResult>;

export interface FakeWorker {
  worker: Worker;
  /** Every attempt it took, in order. */
  seen: Array<MapTask | ReduceTask>;
  close(): Promise<void>;
}

/** A BullMQ Worker on the cluster's task queue, answering as a real worker would. */
export async function startFakeWorker(opts: {
  redisUrl: string;
  prefix: string;
  store: ObjectStore;
  workerId?: string;
  behaviour?: Behaviour;
  workerOptions?: {
    lockDuration?: number;
    stalledInterval?: number;
    maxStalledCount?: number;
    concurrency?: number;
  };
}): Promise<FakeWorker> {
  const connection: Redis = await connectRedis(opts.redisUrl, {
    role: 'queue',
    name: 'fake-worker',
  });
  const workerId = opts.workerId ?? 'w1';
  const seen: Array<MapTask | ReduceTask> = [];
  const behaviour: Behaviour =
    opts.behaviour ?? ((task, d) => (task.kind === 'map' ? Promise.resolve(d.map()) : d.reduce()));
  const processor = async (job: Job<MapTask | ReduceTask>) => {
    const task = job.data;
    seen.push(task);
    const defaults = {
      map: (): MapResult => fakeMapResult(task as MapTask, workerId),
      reduce: () => fakeReduce(opts.store, task as ReduceTask, workerId),
    };
    return behaviour(task, defaults);
  };
  const worker = new Worker(TASK_QUEUE, processor, {
    connection,
    prefix: opts.prefix,
    name: workerId,
    concurrency: 4,
    ...opts.workerOptions,
  });
  worker.on('error', () => {});
  await worker.waitUntilReady();
  return {
    worker,
    seen,
    close: async () => {
      await worker.close(true);
      connection.disconnect();
    },
  };
}

export function fakeMapResult(task: MapTask, workerId: string): MapResult {
  return {
    kind: 'map',
    output: {
      taskId: task.taskId,
      mapOutputId: mapOutputId(task),
      address: `127.0.0.1:1${workerId.length}`,
    },
    workerId,
    counters: {
      recordsIn: task.split.records,
      recordsOut: task.split.records,
      bytesIn: task.split.endOffset - task.split.startOffset,
      bytesOut: 0,
      badRecords: 0,
      spills: 0,
      spilledBytes: 0,
      shuffleBytes: 0,
      durationMs: 1,
    },
  };
}

/** Writes a real one-entry view file naming the map outputs this reduce fetched. */
export async function fakeReduce(
  store: ObjectStore,
  task: ReduceTask,
  workerId: string,
): Promise<ReduceResult> {
  const info = await store.put(
    task.outputKey,
    encodeViewFile([
      [`p${task.partition}`, { fetched: task.mapOutputs.map((o) => o.mapOutputId) }],
    ]),
  );
  return {
    kind: 'reduce',
    outputKey: task.outputKey,
    workerId,
    counters: {
      recordsIn: task.mapOutputs.length,
      recordsOut: 1,
      bytesIn: 0,
      bytesOut: info.size,
      badRecords: 0,
      spills: 0,
      spilledBytes: 0,
      shuffleBytes: 0,
      durationMs: 1,
    },
  };
}

/**
 * How a worker reports a failed task: the StrataError's JSON as the Error message
 * (task-failure.ts).
 */
export function failWith(err: StrataError): never {
  throw new Error(JSON.stringify(err.toJSON()));
}

export async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = 'test-token',
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

export async function waitForJob(
  url: string,
  jobId: string,
  states: string[],
  timeoutMs = 20_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await api(url, 'GET', `/v1/jobs/${jobId}?tasks=1`)).json;
    if (states.includes(last.state)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `job ${jobId} did not reach ${states.join('|')} in ${timeoutMs} ms; last status: ${JSON.stringify(last, null, 1).slice(0, 3000)}`,
  );
}

export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}
