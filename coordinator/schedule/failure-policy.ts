/**
 * What the coordinator does when a task attempt fails — the one place that decides.
 *
 *   await policy.attemptFailed(jobId, task, error);
 *
 * - The user's code threw (non-retryable, e.g. STRATA_E_JOB_MAP_FAILED): the task fails and the
 *   job fails at once with that same error — its message names the segment and record, its
 *   stack is the user's. Running it again would only throw again.
 * - Retryable (a store hiccup, STRATA_E_TASK_LOST for a dead or frozen worker): attempt + 1, up
 *   to config.taskAttempts counted failures; then the job fails with STRATA_E_JOB_FAILED whose
 *   cause is the last error.
 * - A reduce could not fetch a map output (STRATA_E_SHUFFLE_FETCH_FAILED naming mapOutputId):
 *   that map runs again, and the reduce runs again once all maps are back, with the new
 *   locations. If the worker that served it is registered and no longer alive, or its shuffle
 *   server was unreachable (reason 'unavailable', after the reducer's own resumes), every map
 *   output it served is presumed lost with it and all those maps run again at once, rather than
 *   one reduce failure per output. Neither counts as the task's failure — a lost machine is
 *   nobody's fault — but total attempts are bounded so a flapping node cannot loop forever. A
 *   fetch failure that names no map output of the job counts against the reduce, like any
 *   retryable failure.
 * - An attempt the coordinator itself cancelled (STRATA_E_TASK_CANCELLED) is never the task's
 * fault.
 * - A retryable failure of an attempt whose speculative backup is in flight promotes the backup
 *   (job-store retryTask) instead of queueing a new attempt. A backup's own failure
 *   (backupFailed) only drops the backup, unless it is the user's code failing: that fails the
 *   job as it would on the primary.
 */
import type { Redis } from 'ioredis';
import { StrataError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { CoordinatorMetrics } from '../coordinator-metrics.ts';
import type { JobStore, TaskRetry } from '../state/job-store.ts';
import type { TaskRecord } from '../state/task-record.ts';
import { workerIsGone } from './worker-liveness.ts';

export interface FailurePolicyOptions {
  jobs: JobStore;
  redis: Redis;
  prefix: string;
  taskAttempts: number;
  log: Logger;
  metrics?: CoordinatorMetrics;
  /** Fails the job (cancelling its other tasks). */
  failJob: (jobId: string, error: StrataError) => Promise<unknown>;
  /**
   * Stops attempts whose answers are no longer wanted (a backup beside an attempt that failed for
   * good).
   */
  cancelAttempts?: (
    jobId: string,
    attempts: Array<{ taskId: string; attempt: number }>,
    reason: string,
  ) => Promise<unknown>;
}

/** Uncounted re-runs (lost outputs) are bounded at this many times config.taskAttempts. */
const RERUN_FACTOR = 4;

export class FailurePolicy {
  readonly #o: FailurePolicyOptions;

  constructor(options: FailurePolicyOptions) {
    this.#o = options;
  }

  async attemptFailed(
    jobId: string,
    task: TaskRecord,
    error: StrataError,
    opts: { counted?: boolean } = {},
  ): Promise<void> {
    const { jobs } = this.#o;
    if (error.code === 'STRATA_E_TASK_CANCELLED') {
      await this.#retry(jobId, task, 'retry', error, false, 'cancelled');
      return;
    }
    if (error.code === 'STRATA_E_SHUFFLE_FETCH_FAILED' && task.kind === 'reduce') {
      const lost = await this.#rerunLostMaps(jobId, error);
      if (lost === 'job-failed') return;
      // Only a fetch failure that named no map output we could re-run counts against the reduce.
      await this.#retry(jobId, task, 'retry', error, lost === 'none', 'fetch-failed');
      return;
    }
    if (!error.retryable) {
      const moved = await jobs.moveTask(jobId, task.taskId, 'fail', {
        attempt: task.attempt,
        patch: { error: error.toJSON() },
      });
      if (moved.ok) {
        this.#o.metrics?.tasksFinished.inc({ kind: task.kind, outcome: 'failed' });
        if (moved.loser)
          await this.#o.cancelAttempts?.(
            jobId,
            [{ taskId: task.taskId, attempt: moved.loser }],
            `attempt ${task.attempt} failed for good`,
          );
        await this.#o.failJob(jobId, error);
      }
      return;
    }
    await this.#retry(
      jobId,
      task,
      'retry',
      error,
      opts.counted ?? true,
      error.code === 'STRATA_E_TASK_LOST' ? 'lost' : 'failure',
    );
  }

  /**
   * A speculative backup attempt failed: the primary carries on alone. The user's code failing
   * (non-retryable) fails the job, as it would have on the primary; a fetch failure still tells
   * us which map output is lost.
   */
  async backupFailed(
    jobId: string,
    task: TaskRecord,
    backup: number,
    error: StrataError,
  ): Promise<void> {
    if (!error.retryable && error.code !== 'STRATA_E_TASK_CANCELLED') {
      await this.attemptFailed(jobId, task, error);
      return;
    }
    if (
      error.code === 'STRATA_E_SHUFFLE_FETCH_FAILED' &&
      task.kind === 'reduce' &&
      (await this.#rerunLostMaps(jobId, error)) === 'job-failed'
    )
      return;
    if (await this.#o.jobs.dropBackup(jobId, task.taskId, backup, error.toJSON())) {
      this.#o.log.info(
        { jobId, taskId: task.taskId, attempt: task.attempt, backup, code: error.code },
        'speculative attempt failed; the first attempt carries on',
      );
    }
  }

  /**
   * 'rerun' when the named output's map (or all of its dead worker's maps) runs again or already
   * does; 'none' when the error names no output of this job; 'job-failed' when a map ran out of
   * attempts.
   */
  async #rerunLostMaps(
    jobId: string,
    error: StrataError,
  ): Promise<'rerun' | 'none' | 'job-failed'> {
    const lostId = error.details?.mapOutputId;
    if (typeof lostId !== 'string' || !lostId.startsWith(`${jobId}/`)) return 'none';
    const maps = (await this.#o.jobs.getTasks(jobId)).filter(
      (t) => t.kind === 'map' && t.state === 'succeeded',
    );
    const named = maps.find((t) => t.output?.mapOutputId === lostId);
    if (!named) return 'rerun'; // already being re-run, or an older attempt's output
    const address = named.output!.address;
    const unreachable =
      error.details?.reason === 'unavailable' && error.details?.address === address;
    const gone =
      named.worker !== undefined &&
      (await workerIsGone(this.#o.redis, this.#o.prefix, named.worker));
    const lost =
      gone || unreachable
        ? maps.filter(
            (t) =>
              (gone && t.worker === named.worker) || (unreachable && t.output?.address === address),
          )
        : [named];
    this.#o.log.warn(
      {
        jobId,
        mapOutputId: lostId,
        worker: named.worker,
        address,
        gone,
        unreachable,
        rerun: lost.map((t) => t.taskId),
      },
      'map output lost; re-running its map',
    );
    for (const m of lost) {
      const r = await this.#retry(jobId, m, 'rerun', error, false, 'output-lost');
      if (!r.ok && r.reason === 'exhausted') return 'job-failed';
    }
    return 'rerun';
  }

  async #retry(
    jobId: string,
    task: TaskRecord,
    transition: 'retry' | 'rerun',
    error: StrataError,
    counted: boolean,
    reason: string,
  ): Promise<TaskRetry> {
    const max = this.#o.taskAttempts;
    const r = await this.#o.jobs.retryTask(jobId, task.taskId, transition, {
      attempt: task.attempt,
      counted,
      maxFailures: max,
      maxAttempts: max * RERUN_FACTOR,
      error: error.toJSON(),
    });
    if (r.ok) {
      this.#o.metrics?.taskRetries.inc({ kind: task.kind, reason });
      if (transition === 'retry')
        this.#o.metrics?.tasksFinished.inc({ kind: task.kind, outcome: 'retried' });
      if ('promoted' in r)
        this.#o.log.info(
          { jobId, taskId: task.taskId, attempt: r.attempt, reason },
          `attempt ${task.attempt} failed; its speculative attempt ${r.attempt} carries on`,
        );
      else
        this.#o.log.info(
          { jobId, taskId: task.taskId, attempt: r.attempt, reason },
          `task will run again as attempt ${r.attempt}`,
        );
    } else if (r.reason === 'exhausted') {
      this.#o.metrics?.tasksFinished.inc({ kind: task.kind, outcome: 'failed' });
      const exhausted = 'failures' in r ? r : { failures: 0, attempt: task.attempt };
      await this.#o.failJob(
        jobId,
        new StrataError(
          'STRATA_E_JOB_FAILED',
          `task ${task.taskId} of job ${jobId} failed ${exhausted.failures} time(s) in ${exhausted.attempt} attempt(s) (the limit is STRATA_TASK_ATTEMPTS=${max}); last error: ${error.message} [${error.code}]`,
          {
            cause: error,
            details: {
              jobId,
              taskId: task.taskId,
              failures: exhausted.failures,
              attempts: exhausted.attempt,
            },
          },
        ),
      );
    }
    return r;
  }
}
