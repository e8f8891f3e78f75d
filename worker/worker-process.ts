/**
 * A Strata worker: takes map, reduce and plain tasks from the BullMQ queue, runs each in a task
 * thread, serves its map outputs to reducers over gRPC, and keeps itself registered in Redis.
 *
 *   const worker = await startWorker(loadConfig());
 *   console.log(`worker ${worker.id} ready (shuffle ${worker.address}, ${worker.threads} threads)`);
 *   process.once('SIGTERM', () => void worker.stop());
 *
 * The main thread only moves bytes and state (BullMQ, lock renewal, the shuffle server, the
 * heartbeat); user code runs in the threads, so a CPU-bound map never starves lock renewal.
 * Concurrency equals the thread count. A task's result is MapResult / ReduceResult / CallResult
 * (core/tasks/task-payload.ts). A failure is thrown as an Error whose message is the StrataError's
 * JSON (what coordinator/task-failure.ts decodes); non-retryable ones as BullMQ's
 * UnrecoverableError. A worker that dies mid-task loses its lock: BullMQ hands the task to another
 * worker after about lockDuration + stalledInterval, up to MAX_STALLS times.
 *
 * Two attempts of one task (a straggler and its speculative backup) never run on the same worker
 * at once: the second is put back on the queue for a moment (BullMQ delayed), so another worker
 * takes it. The coordinator cancels attempts it no longer wants (the loser of a speculative race,
 * the tasks of a job that ended) on the task-cancel channel (core/redis/cluster-keys.ts): a
 * running one is aborted (its thread terminated) and reported as STRATA_E_TASK_CANCELLED.
 *
 * stop(): no new tasks; running ones get `graceMs` to finish, then their threads are terminated
 * and the tasks are put back on the queue (moveToWait) for another worker, at once rather than
 * after a lock timeout. Then the alive key, the shuffle server, the threads and the local map
 * outputs go (nobody can fetch them any more).
 */
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StrataConfig } from '../core/config.ts';
import { StrataError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { decodeTaskCancel, taskCancelChannel } from '../core/redis/cluster-keys.ts';
import { connectRedis } from '../core/redis/connect-redis.ts';
import { openStore } from '../core/store/open-store.ts';
import {
  TASK_QUEUE,
  type CallResult,
  type MapResult,
  type ReduceResult,
  type Task,
  type TaskResult,
} from '../core/tasks/task-payload.ts';
import { CodeCache } from '../core/code/code-cache.ts';
import { asStrataError } from './job-errors.ts';
import { mapOutputPath, outputsDir } from './map-outputs.ts';
import { startOutputSweeper } from './output-sweeper.ts';
import { startShuffleServer } from './shuffle/shuffle-server.ts';
import { TaskThreads } from './threads/task-threads.ts';
import { lockWorkDir } from './work-dir-lock.ts';
import { registerWorker } from './worker-registry.ts';
import { workerSettings, type WorkerSettings } from './worker-settings.ts';

/**
 * Stalls (lost locks) BullMQ tolerates per task before failing it: a task whose worker is killed
 * twice still runs.
 */
export const MAX_STALLS = 3;
/**
 * How long an attempt of a task already running here waits before it is offered to the workers
 * again.
 */
const SAME_TASK_DELAY_MS = 500;

export interface StartWorkerOptions {
  log?: Logger;
  /**
   * How long stop() lets running tasks finish before it puts them back on the queue. Default 10 000
   * ms.
   */
  stopGraceMs?: number;
  /** Sweep map outputs of finished jobs this often. Default 30 000 ms. */
  sweepIntervalMs?: number;
}

export interface WorkerHandle {
  id: string;
  /** host:port of the shuffle server. */
  address: string;
  threads: number;
  workDir: string;
  settings: WorkerSettings;
  stop(graceMs?: number): Promise<void>;
}

interface InFlight {
  controller: AbortController;
  jobId: string;
  taskId: string;
  kind: Task['kind'];
  released: boolean;
}

export async function startWorker(
  config: StrataConfig,
  options: StartWorkerOptions = {},
): Promise<WorkerHandle> {
  const settings = await workerSettings(config);
  const { id, workDir } = settings;
  const log = (options.log ?? createLogger(settings)).child({ component: 'worker', workerId: id });
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch((err: unknown) => log.warn({ err }, 'worker cleanup step failed'));
    cleanups.length = 0;
  };

  try {
    const lock = await lockWorkDir(workDir);
    cleanups.push(() => lock.release());
    // Outputs of an earlier process in this folder cannot be served by this one: its id differs.
    await rm(outputsDir(workDir), { recursive: true, force: true });
    cleanups.push(() => rm(outputsDir(workDir), { recursive: true, force: true }));

    const store = await openStore(settings.store, {
      accessKey: settings.s3AccessKey || undefined,
      secretKey: settings.s3SecretKey || undefined,
    });
    cleanups.push(() => store.close());
    const code = new CodeCache(store, path.join(workDir, 'code'));

    const command = await connectRedis(settings.redisUrl, { role: 'command', name: 'worker', log });
    cleanups.push(() => command.quit());
    const queueConnection: Redis = await connectRedis(settings.redisUrl, {
      role: 'queue',
      name: 'worker',
      log,
    });
    cleanups.push(() => queueConnection.quit());
    const subscriber = await connectRedis(settings.redisUrl, {
      role: 'subscriber',
      name: 'worker',
      log,
    });
    cleanups.push(() => subscriber.quit());

    const threads = await TaskThreads.start({
      threads: settings.threads,
      env: {
        workerId: id,
        store: settings.store,
        s3AccessKey: settings.s3AccessKey,
        s3SecretKey: settings.s3SecretKey,
        workDir,
        memoryBudgetBytes: settings.memoryBudgetBytes,
        token: settings.token,
        logLevel: settings.logLevel,
      },
    });
    cleanups.push(() => threads.destroy());

    const shuffle = await startShuffleServer({
      host: settings.shuffleHost,
      port: settings.shufflePort,
      token: settings.token,
      resolve: (mapOutputId, _partition, jobId) =>
        mapOutputId.startsWith(`${jobId}/`) ? mapOutputPath(workDir, mapOutputId) : undefined,
      log,
    });
    cleanups.push(() => shuffle.stop(1000));
    const advertised = `${settings.shuffleAdvertiseHost.includes(':') ? `[${settings.shuffleAdvertiseHost}]` : settings.shuffleAdvertiseHost}:${shuffle.port}`;

    const inFlight = new Set<InFlight>();
    const sweeper = startOutputSweeper({
      workDir,
      redis: command,
      prefix: settings.redisPrefix,
      isBusy: (jobId) => [...inFlight].some((t) => t.kind === 'map' && t.jobId === jobId),
      intervalMs: options.sweepIntervalMs,
      log,
    });
    cleanups.push(() => sweeper.stop());

    const run = async (task: Task, signal: AbortSignal): Promise<TaskResult> => {
      if (!task || (task.kind !== 'map' && task.kind !== 'reduce' && task.kind !== 'call')) {
        throw new StrataError(
          'STRATA_E_INTERNAL',
          `the queue ${TASK_QUEUE} holds a task of unknown kind ${JSON.stringify((task as { kind?: unknown } | undefined)?.kind)}; only map, reduce and call tasks are known`,
        );
      }
      const bundle = await code.ensure(task.codeHash);
      switch (task.kind) {
        case 'map': {
          const outcome = await threads.run('map', { task, bundle }, signal);
          return {
            kind: 'map',
            output: { taskId: task.taskId, mapOutputId: outcome.mapOutputId, address: advertised },
            workerId: id,
            counters: outcome.counters,
          } satisfies MapResult;
        }
        case 'reduce': {
          const outcome = await threads.run('reduce', { task, bundle }, signal);
          return {
            kind: 'reduce',
            outputKey: outcome.outputKey,
            workerId: id,
            counters: outcome.counters,
          } satisfies ReduceResult;
        }
        case 'call': {
          const outcome = await threads.run('call', { task, bundle }, signal);
          return {
            kind: 'call',
            workerId: id,
            value: outcome.value,
            durationMs: outcome.durationMs,
          } satisfies CallResult;
        }
      }
    };

    /** BullMQ job ids the coordinator cancelled, with its reason, while they run here. */
    const cancelled = new Map<string, string>();
    // Three parameters: BullMQ then passes an AbortSignal, aborted by bull.cancelJob (the
    // coordinator's cancel).
    const processor = async (
      job: Job<Task, TaskResult>,
      token?: string,
      lost?: AbortSignal,
    ): Promise<TaskResult> => {
      const task = job.data;
      if (
        token &&
        task &&
        task.kind !== 'call' &&
        [...inFlight].some((t) => t.jobId === task.jobId && t.taskId === task.taskId)
      ) {
        // Another attempt of this task runs here (a speculative race): let another worker take this
        // one.
        await job.moveToDelayed(Date.now() + SAME_TASK_DELAY_MS, token);
        throw new DelayedError();
      }
      const entry: InFlight = {
        controller: new AbortController(),
        jobId: task?.jobId,
        taskId: task?.taskId,
        kind: task?.kind,
        released: false,
      };
      const onLost = () => entry.controller.abort(lost?.reason);
      lost?.addEventListener('abort', onLost, { once: true });
      inFlight.add(entry);
      const taskLog = log.child({
        jobId: task?.jobId,
        taskId: task?.taskId,
        attempt: task?.attempt,
        kind: task?.kind,
      });
      try {
        taskLog.debug('task started');
        const result = await run(task, entry.controller.signal);
        taskLog.debug('task done');
        return result;
      } catch (err) {
        if (entry.released && token) {
          await job.moveToWait(token);
          taskLog.info('task put back on the queue: the worker is stopping');
          throw new WaitingError();
        }
        // Aborted on the coordinator's word, or by BullMQ itself (a lost lock: the task is already
        // considered stalled): whatever the thread threw on being aborted is not the task's fault,
        // so it must never fail the job.
        const why = job.id ? cancelled.get(job.id) : undefined;
        const error =
          why !== undefined
            ? new StrataError(
                'STRATA_E_TASK_CANCELLED',
                `attempt ${task?.attempt} of task ${task?.taskId} of job ${task?.jobId} was cancelled by the coordinator on ${id}: ${why}`,
                { details: { jobId: task?.jobId, taskId: task?.taskId, attempt: task?.attempt } },
              )
            : lost?.aborted
              ? new StrataError(
                  'STRATA_E_TASK_LOST',
                  `task ${task?.taskId} of job ${task?.jobId} lost its lock on ${job.processedBy ?? 'this worker'} and was aborted; it is retried`,
                  { retryable: true, cause: err },
                )
              : asStrataError(err);
        taskLog.warn({ code: error.code, retryable: error.retryable, err: error }, 'task failed');
        const message = JSON.stringify(error.toJSON());
        throw error.retryable ? new Error(message) : new UnrecoverableError(message);
      } finally {
        lost?.removeEventListener('abort', onLost);
        inFlight.delete(entry);
        if (job.id) cancelled.delete(job.id);
      }
    };

    const lockDuration = settings.lockDurationMs;
    const bull = new Worker<Task, TaskResult>(TASK_QUEUE, processor, {
      connection: queueConnection,
      prefix: settings.redisPrefix,
      name: id,
      concurrency: settings.threads,
      lockDuration,
      // Short, so a dead worker's task is noticed soon after its lock expires.
      stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
      maxStalledCount: MAX_STALLS,
      autorun: false,
    });
    bull.on('error', (err) => log.error({ err }, 'queue worker error'));
    cleanups.push(() => bull.close(true));

    subscriber.on('message', (_channel: string, text: string) => {
      const msg = decodeTaskCancel(text);
      for (const bullId of msg?.ids ?? []) {
        if (!inFlight.size) break;
        cancelled.set(bullId, msg!.reason);
        if (bull.cancelJob(bullId, msg!.reason))
          log.info({ bullId, reason: msg!.reason }, 'running attempt cancelled by the coordinator');
        else cancelled.delete(bullId);
      }
    });
    await subscriber.subscribe(taskCancelChannel(settings.redisPrefix));

    const presence = await registerWorker(command, {
      prefix: settings.redisPrefix,
      heartbeatMs: settings.heartbeatMs,
      info: {
        id,
        address: advertised,
        host: os.hostname(),
        pid: process.pid,
        threads: settings.threads,
        started: Date.now(),
      },
      log,
    });
    cleanups.push(() => presence.stop());
    void bull
      .run()
      .catch((err: unknown) => log.error({ err }, 'the queue worker stopped with an error'));
    log.info({ address: advertised, threads: settings.threads, workDir }, 'worker ready');

    let stopping: Promise<void> | undefined;
    return {
      id,
      address: advertised,
      threads: settings.threads,
      workDir,
      settings,
      stop: (graceMs = options.stopGraceMs ?? 10_000) =>
        (stopping ??= (async () => {
          log.info({ running: inFlight.size, graceMs }, 'worker stopping');
          const closing = bull.close();
          const timer = setTimeout(() => {
            for (const t of inFlight) {
              t.released = true;
              t.controller.abort(
                new StrataError(
                  'STRATA_E_TASK_LOST',
                  'the worker is stopping; the task goes back on the queue',
                ),
              );
            }
          }, graceMs);
          await closing;
          clearTimeout(timer);
          await cleanup();
          log.info('worker stopped');
        })()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
