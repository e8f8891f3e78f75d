/**
 * The coordinator's side of the BullMQ task queue: payloads in, attempts' fates out.
 *
 *   const tasks = new TaskQueue(new Queue(TASK_QUEUE, { connection, prefix: config.redisPrefix }));
 *   await tasks.add(mapPayload(job, rec));
 *   await tasks.inspect('jm3x9k2a1b2c3.m-0.1')   // { state: 'completed', result } | { state: 'failed', reason } | …
 *
 * One BullMQ job per task attempt, with id `<jobId>.<taskId>.<attempt>` (bullJobId), so adding
 * the same attempt twice is a no-op. BullMQ retries nothing itself (attempts: 1): the coordinator
 * counts attempts and chooses what runs again. Finished entries are kept a day, long enough for
 * a restarted coordinator to read results it missed.
 */
import type { Queue } from 'bullmq';
import {
  bullJobId,
  type MapOutputLocation,
  type MapTask,
  type ReduceTask,
} from '../../core/tasks/task-payload.ts';
import { reduceOutputKey } from '../commit.ts';
import type { JobRecord } from '../state/job-store.ts';
import type { TaskRecord } from '../state/task-record.ts';

const KEEP_FINISHED = { age: 24 * 3600 };

export type AttemptFate =
  | { state: 'completed'; result: unknown }
  | { state: 'failed'; reason: string | undefined }
  | { state: 'active'; worker: string | undefined }
  | { state: 'waiting' }
  | { state: 'missing' };

export class TaskQueue {
  readonly queue: Queue;

  constructor(queue: Queue) {
    this.queue = queue;
  }

  async add(task: MapTask | ReduceTask): Promise<void> {
    await this.queue.add(task.kind, task, {
      jobId: bullJobId(task),
      attempts: 1,
      removeOnComplete: KEEP_FINISHED,
      removeOnFail: KEEP_FINISHED,
    });
  }

  /** Removes a waiting attempt; one a worker holds stays (its answer will be ignored). */
  async remove(id: string): Promise<boolean> {
    return (await this.queue.remove(id)) === 1;
  }

  async inspect(id: string): Promise<AttemptFate> {
    const job = await this.queue.getJob(id);
    if (!job) return { state: 'missing' };
    const state = await job.getState();
    if (state === 'completed') return { state, result: job.returnvalue };
    if (state === 'failed') return { state, reason: job.failedReason };
    if (state === 'active') return { state, worker: job.processedBy };
    if (state === 'unknown') return { state: 'missing' };
    return { state: 'waiting' };
  }

  /** The worker that took an attempt (BullMQ's processedBy: the worker's name), if known. */
  async workerOf(id: string): Promise<string | undefined> {
    return (await this.queue.getJob(id))?.processedBy;
  }
}

export interface ParsedBullJobId {
  jobId: string;
  taskId: string;
  attempt: number;
}

export function parseBullJobId(id: string): ParsedBullJobId | undefined {
  const m = /^([a-z0-9][a-z0-9_-]{0,63})\.((?:m|r)-\d+)\.(\d+)$/.exec(id);
  return m ? { jobId: m[1]!, taskId: m[2]!, attempt: Number(m[3]) } : undefined;
}

export function mapPayload(job: JobRecord, task: TaskRecord): MapTask {
  return {
    kind: 'map',
    jobId: job.id,
    taskId: task.taskId,
    attempt: task.attempt,
    codeHash: job.spec.codeHash,
    split: task.split!,
    partitions: job.spec.partitions,
    params: job.spec.params,
  };
}

/** A reduce attempt fetching from every map's current output (all maps must have succeeded). */
export function reducePayload(
  job: JobRecord,
  task: TaskRecord,
  maps: readonly TaskRecord[],
): ReduceTask {
  const mapOutputs: MapOutputLocation[] = maps.map((m) => m.output!);
  return {
    kind: 'reduce',
    jobId: job.id,
    taskId: task.taskId,
    attempt: task.attempt,
    codeHash: job.spec.codeHash,
    partition: task.partition!,
    mapOutputs,
    outputKey: reduceOutputKey(job.id, task.taskId, task.attempt),
    params: job.spec.params,
    ...(job.spec.realtime ? { accumulators: true } : {}),
  };
}
