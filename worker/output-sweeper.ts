/**
 * Deletes map outputs nobody will fetch again: those of jobs that have finished (the job's state
 * in Redis is succeeded, failed or cancelled), of jobs Redis no longer knows, and anything older
 * than a day whatever the job's state.
 *
 *   const sweeper = startOutputSweeper({ workDir, redis, prefix, isBusy: (jobId) => running.has(jobId) });
 *   await sweeper.sweep();   // the job ids whose outputs were removed
 *   sweeper.stop();
 *
 * "Told to delete" is the coordinator moving the job to a terminal state (P:job:<id> field
 * `state`): no separate message is needed, and a worker that was down when the job ended still
 * cleans up. A job with a map running here right now is never touched.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/log.ts';
import { outputsDir } from './map-outputs.ts';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface OutputSweeperOptions {
  workDir: string;
  redis: Redis;
  prefix: string;
  /** True while a map task of that job runs on this worker. */
  isBusy: (jobId: string) => boolean;
  /** Default 30 s. */
  intervalMs?: number;
  /** Outputs this old go whatever the job's state. Default 24 h. */
  maxAgeMs?: number;
  /** Outputs of a job Redis does not know go after this long. Default 10 min. */
  unknownJobAfterMs?: number;
  log?: Logger;
}

export interface OutputSweeper {
  sweep(): Promise<string[]>;
  stop(): void;
}

export function startOutputSweeper(opts: OutputSweeperOptions): OutputSweeper {
  const maxAgeMs = opts.maxAgeMs ?? 24 * 3600_000;
  const unknownJobAfterMs = opts.unknownJobAfterMs ?? 10 * 60_000;
  let running: Promise<string[]> | undefined;

  async function sweepOnce(): Promise<string[]> {
    const root = outputsDir(opts.workDir);
    const jobs = await readdir(root).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const jobId of jobs) {
      if (opts.isBusy(jobId)) continue;
      const dir = path.join(root, jobId);
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) continue;
      const age = Date.now() - info.mtimeMs;
      const state = await opts.redis.hget(`${opts.prefix}:job:${jobId}`, 'state');
      const why =
        age > maxAgeMs
          ? 'old'
          : state !== null && TERMINAL.has(state)
            ? `job ${state}`
            : state === null && age > unknownJobAfterMs
              ? 'job unknown'
              : undefined;
      if (!why || opts.isBusy(jobId)) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(jobId);
      opts.log?.info({ jobId, why }, 'removed map outputs');
    }
    return removed;
  }

  const sweep = () => (running ??= sweepOnce().finally(() => (running = undefined)));
  const timer = setInterval(() => {
    sweep().catch((err: unknown) =>
      opts.log?.warn({ err }, 'sweeping map outputs failed; trying again later'),
    );
  }, opts.intervalMs ?? 30_000);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
