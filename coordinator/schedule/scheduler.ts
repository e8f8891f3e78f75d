/**
 * Drives every live job from its plan to a committed version: enqueues map tasks, then reduce
 * tasks with every map's output location, retries what failed, and commits.
 *
 *   const scheduler = new Scheduler({ jobs, tasks, store, redis, prefix, taskAttempts: 4, pollMs: 2000, log });
 *   await scheduler.start(queueEvents);   // picks up the jobs a previous coordinator left
 *   await scheduler.advance(jobId);       // after a submit
 *   await scheduler.stop();
 *
 * Nothing is kept only in memory: every step reads the job from Redis and moves it with a
 * guarded transition (job-store.ts), so a duplicate or late event is refused, not applied, and
 * a restarted coordinator carries on. Events (BullMQ QueueEvents) are the fast path; a periodic
 * reconciliation asks BullMQ about every queued or running attempt, which catches whatever
 * happened while no coordinator was listening. Steps of one job run one at a time.
 *
 * Failures (failure-policy.ts decides): a retryable error or a lost worker runs the task again
 * as attempt + 1, up to config.taskAttempts; a non-retryable one (the user's map threw) fails
 * the job at once with that very error; a reduce that cannot fetch a map output re-runs that
 * map (and every map of its worker if the worker is gone), then runs again with the new location.
 * A worker that dies mid-task stops renewing its lock; BullMQ's stall check puts the same attempt
 * back on the queue ('stalled': the task is 'queued' again) for another worker.
 *
 * Speculative execution (speculation.ts decides): at each poll, a running task far slower than
 * its finished peers gets a backup attempt on the queue, if at least two workers are alive; a
 * worker never runs two attempts of one task at once, so the backup lands elsewhere. The first
 * attempt to succeed wins; the other is cancelled (removed from the queue, or aborted on its
 * worker through the task-cancel channel) and its answer, should it still come, is refused.
 * Attempts of a job that fails or is cancelled are cancelled the same way.
 */
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { StrataError, toStrataError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { encodeTaskCancel, taskCancelChannel } from '../../core/redis/cluster-keys.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { bullJobId, type MapResult, type ReduceResult } from '../../core/tasks/task-payload.ts';
import { newVersion } from '../../core/views/view-layout.ts';
import { abortJob, commitJob, reduceOutputKey } from '../commit.ts';
import { badRecordBudgetError } from '../bad-record-budget.ts';
import type { CoordinatorMetrics } from '../coordinator-metrics.ts';
import { isTerminalJobState } from '../state/job-state.ts';
import type { JobRecord, JobStore } from '../state/job-store.ts';
import type { TaskRecord } from '../state/task-record.ts';
import { decodeTaskFailure } from '../task-failure.ts';
import { FailurePolicy } from './failure-policy.ts';
import type { SpeculationSettings } from './speculation.ts';
import { Speculator } from './speculator.ts';
import {
  mapPayload,
  parseBullJobId,
  reducePayload,
  type ParsedBullJobId,
  type TaskQueue,
} from './task-queue.ts';

export interface SchedulerOptions {
  jobs: JobStore;
  tasks: TaskQueue;
  store: ObjectStore;
  /** A command connection: announcements and worker liveness. */
  redis: Redis;
  prefix: string;
  /** config.taskAttempts */
  taskAttempts: number;
  /** Milliseconds between reconciliations with BullMQ. */
  pollMs: number;
  log: Logger;
  metrics?: CoordinatorMetrics;
  /** Backups for stragglers (config.speculation*); absent or multiplier 0: none. */
  speculation?: SpeculationSettings;
  /** config.viewVersionsKept: committed versions kept before the current one. */
  versionsKept?: number;
}

/** Retryable commit failures (store briefly down) tried again at the next poll, this often. */
const COMMIT_TRIES = 5;
const INSPECT_IN_FLIGHT = 32;

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #log: Logger;
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #advanceQueued = new Set<string>();
  readonly #commitFailures = new Map<string, number>();
  readonly #policy: FailurePolicy;
  readonly #speculator: Speculator;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #events: QueueEvents | undefined;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'scheduler' });
    this.#policy = new FailurePolicy({
      jobs: options.jobs,
      redis: options.redis,
      prefix: options.prefix,
      taskAttempts: options.taskAttempts,
      log: this.#log,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      failJob: (jobId, error) => this.#finish(jobId, 'fail', error),
      cancelAttempts: (jobId, attempts, reason) => this.#cancelAttempts(jobId, attempts, reason),
    });
    this.#speculator = new Speculator({
      jobs: options.jobs,
      tasks: options.tasks,
      redis: options.redis,
      prefix: options.prefix,
      settings: options.speculation,
      log: this.#log,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  }

  /** Listens to the queue's events, reconciles every live job once, then keeps polling. */
  async start(events: QueueEvents): Promise<void> {
    this.#events = events;
    events.on('completed', this.#onCompleted);
    events.on('failed', this.#onFailed);
    events.on('active', this.#onActive);
    events.on('stalled', this.#onStalled);
    await events.waitUntilReady();
    await this.reconcileAll();
    this.#schedulePoll();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#events) {
      this.#events.off('completed', this.#onCompleted);
      this.#events.off('failed', this.#onFailed);
      this.#events.off('active', this.#onActive);
      this.#events.off('stalled', this.#onStalled);
    }
    await Promise.allSettled([...this.#chains.values()]);
  }

  /**
   * Moves a job on as far as it can go now (enqueue, change phase, commit). Never rejects: a
   * step that fails (Redis or the store briefly gone) is logged and the next poll tries again.
   */
  advance(jobId: string): Promise<void> {
    if (this.#advanceQueued.has(jobId)) return this.#chains.get(jobId)!.then(() => undefined);
    this.#advanceQueued.add(jobId);
    return this.#serial(jobId, async () => {
      this.#advanceQueued.delete(jobId);
      await this.#advance(jobId);
    }).catch((err: unknown) =>
      this.#log.error({ err, jobId }, 'advancing a job failed; the next poll tries again'),
    );
  }

  /** Cancels a job that has not begun committing; answers whether it was cancelled now. */
  cancel(jobId: string): Promise<boolean> {
    return this.#serial(jobId, () =>
      this.#finish(
        jobId,
        'cancel',
        new StrataError(
          'STRATA_E_JOB_CANCELLED',
          `job ${jobId} was cancelled; nothing of it was published`,
          { details: { jobId } },
        ),
      ),
    );
  }

  /**
   * Asks BullMQ about every queued or running attempt of every live job, and acts on the answers.
   */
  async reconcileAll(): Promise<void> {
    const ids = await this.#o.jobs.liveJobIds();
    await Promise.all(
      ids.map((id) =>
        this.#serial(id, () => this.#reconcile(id)).catch((err: unknown) =>
          this.#log.error(
            { err, jobId: id },
            'reconciling a job failed; the next poll tries again',
          ),
        ),
      ),
    );
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.reconcileAll()
        .catch((err: unknown) => this.#log.warn({ err }, 'reconciliation poll failed'))
        .finally(() => this.#schedulePoll());
    }, this.#o.pollMs);
    this.#timer.unref();
  }

  /** Runs fn after every earlier step of the same job; the caller gets fn's outcome. */
  #serial<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#chains.get(jobId) ?? Promise.resolve()).then(() =>
      this.#stopped ? (undefined as T) : fn(),
    );
    const tail = run.catch(() => undefined);
    this.#chains.set(jobId, tail);
    void tail.then(() => {
      if (this.#chains.get(jobId) === tail) this.#chains.delete(jobId);
    });
    return run;
  }

  #onEvent(bullId: string, what: string, fn: (id: ParsedBullJobId) => Promise<void>): void {
    const id = parseBullJobId(bullId);
    if (!id || this.#stopped) return; // not a map/reduce attempt (plain call tasks share the queue)
    this.#serial(id.jobId, () => fn(id)).catch((err: unknown) =>
      this.#log.error({ err, bullId }, `handling ${what} failed; the next poll tries again`),
    );
  }

  #onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }): void => {
    this.#onEvent(jobId, 'a completion', async (id) => {
      if (await this.#completed(id, returnvalue)) void this.advance(id.jobId);
    });
  };

  #onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }): void => {
    this.#onEvent(jobId, 'a failure', async (id) => {
      if (await this.#failed(id, failedReason)) void this.advance(id.jobId);
    });
  };

  #onActive = ({ jobId: bullId }: { jobId: string }): void => {
    this.#onEvent(bullId, 'a start', async (id) => {
      const worker = await this.#o.tasks.workerOf(bullId);
      await this.#o.jobs.moveTask(id.jobId, id.taskId, 'start', {
        attempt: id.attempt,
        patch: worker ? { worker } : {},
      });
    });
  };

  #onStalled = ({ jobId: bullId }: { jobId: string }): void => {
    this.#log.warn(
      { bullId },
      'a task attempt stalled (its worker stopped renewing the lock); BullMQ puts it back on the queue',
    );
    this.#onEvent(bullId, 'a stall', async (id) => {
      await this.#o.jobs.moveTask(id.jobId, id.taskId, 'stall', { attempt: id.attempt });
    });
  };

  /** Applies a result; true when it was the current attempt's and was recorded. */
  async #completed(id: ParsedBullJobId, value: unknown): Promise<boolean> {
    const task = await this.#o.jobs.getTask(id.jobId, id.taskId);
    if (!task) return false;
    const problem = resultProblem(task, value, reduceOutputKey(id.jobId, id.taskId, id.attempt));
    if (problem)
      return this.#failed(
        id,
        JSON.stringify(
          new StrataError('STRATA_E_INTERNAL', `task ${bullJobId(id)} answered ${problem}`, {
            retryable: true,
          }).toJSON(),
        ),
      );
    const result = value as MapResult | ReduceResult;
    const patch: Partial<TaskRecord> = { worker: result.workerId, counters: result.counters };
    if (result.kind === 'map') patch.output = result.output;
    else patch.outputKey = result.outputKey;
    const moved = await this.#o.jobs.moveTask(id.jobId, id.taskId, 'succeed', {
      attempt: id.attempt,
      patch,
    });
    if (moved.ok && moved.loser) {
      const won = moved.attempt === task.backup;
      this.#speculator.settled(task.kind, won);
      this.#log.info(
        { ...id, loser: moved.loser, speculativeWon: won },
        won
          ? 'the speculative attempt finished first and won'
          : 'the first attempt finished before its speculative copy',
      );
      await this.#cancelAttempts(
        id.jobId,
        [{ taskId: id.taskId, attempt: moved.loser }],
        `attempt ${id.attempt} of task ${id.taskId} finished first`,
      );
    }
    if (!moved.ok) {
      this.#log.debug(
        { ...id, ...moved },
        'a result for an attempt that is no longer current was ignored',
      );
      // A reduce attempt that finished after its job ended (cancelled, failed, or committed by
      // another attempt) wrote a file nobody will copy or clean: remove it now.
      if (result.kind === 'reduce' && result.outputKey !== task.outputKey)
        await this.#o.store.delete(result.outputKey).catch(() => {});
      return false;
    }
    const since = task.runningAt ?? task.queuedAt;
    this.#o.metrics?.taskSucceeded(
      task.kind,
      since === undefined ? undefined : (Date.now() - since) / 1000,
    );
    return true;
  }

  /** Applies a failure; true when it was the current attempt's. */
  async #failed(id: ParsedBullJobId, reason: string | undefined): Promise<boolean> {
    const task = await this.#o.jobs.getTask(id.jobId, id.taskId);
    const inFlight = task !== undefined && (task.state === 'queued' || task.state === 'running');
    if (inFlight && task.backup === id.attempt) {
      const error = decodeTaskFailure(reason, { bullJobId: bullJobId(id) });
      this.#log.info(
        { ...id, code: error.code, retryable: error.retryable, message: error.message },
        'speculative attempt failed',
      );
      await this.#policy.backupFailed(id.jobId, task, id.attempt, error);
      return true;
    }
    if (!task || !inFlight || task.attempt !== id.attempt) return false;
    const error = decodeTaskFailure(reason, { bullJobId: bullJobId(id) });
    this.#log.info(
      { ...id, code: error.code, retryable: error.retryable, message: error.message },
      'task attempt failed',
    );
    await this.#policy.attemptFailed(id.jobId, task, error);
    return true;
  }

  async #advance(jobId: string): Promise<void> {
    const { jobs } = this.#o;
    // Each pass handles one phase; a phase change goes round again at once.
    for (let pass = 0; pass < 5 && !this.#stopped; pass++) {
      const job = await jobs.getJob(jobId);
      if (!job || isTerminalJobState(job.state)) return;
      const tasks = await jobs.getTasks(jobId);
      const maps = tasks.filter((t) => t.kind === 'map');
      const reduces = tasks.filter((t) => t.kind === 'reduce');
      const mapsDone = maps.every((t) => t.state === 'succeeded');
      const overBudget = job.state === 'mapping' ? badRecordBudgetError(job, maps) : undefined; // bad-record-budget.ts
      if (overBudget) return void (await this.#finish(jobId, 'fail', overBudget));
      if (job.state === 'committing') return this.#commit(job, tasks);
      for (const t of maps) if (t.state === 'pending') await this.#enqueue(job, t, maps);
      const now = Date.now();
      if (job.state === 'planning') {
        if (!(await jobs.moveJob(jobId, 'startMapping', { started: now })).ok) return;
      } else if (job.state === 'mapping') {
        if (!mapsDone || !(await jobs.moveJob(jobId, 'startReducing', { mapsDone: now })).ok)
          return;
      } else if (job.state === 'reducing') {
        if (mapsDone)
          for (const t of reduces) if (t.state === 'pending') await this.#enqueue(job, t, maps);
        if (!reduces.every((t) => t.state === 'succeeded')) return;
        if (
          !(
            await jobs.moveJob(jobId, 'startCommit', {
              version: newVersion(now, jobId),
              committing: now,
            })
          ).ok
        )
          return;
      }
    }
  }

  async #enqueue(job: JobRecord, task: TaskRecord, maps: readonly TaskRecord[]): Promise<void> {
    const payload = task.kind === 'map' ? mapPayload(job, task) : reducePayload(job, task, maps);
    // Recorded first: a crash between the two leaves a 'queued' task with no queue entry, which
    // reconciliation re-adds; the other order could lose the attempt's state.
    const moved = await this.#o.jobs.moveTask(job.id, task.taskId, 'enqueue', {
      attempt: task.attempt,
    });
    if (!moved.ok) return;
    await this.#o.tasks.add(payload);
    this.#o.metrics?.tasksEnqueued.inc({ kind: task.kind });
  }

  async #reconcile(jobId: string): Promise<void> {
    const job = await this.#o.jobs.getJob(jobId);
    if (!job || isTerminalJobState(job.state)) return;
    const tasks = await this.#o.jobs.getTasks(jobId);
    // Every attempt in flight: the current one of each queued or running task, and its backup.
    const inFlight = tasks
      .filter((t) => t.state === 'queued' || t.state === 'running')
      .flatMap((t) => [
        { t, attempt: t.attempt, backup: false },
        ...(t.backup !== undefined ? [{ t, attempt: t.backup, backup: true }] : []),
      ]);
    const fates = await mapLimit(inFlight, INSPECT_IN_FLIGHT, ({ t, attempt }) =>
      this.#o.tasks.inspect(bullJobId({ jobId, taskId: t.taskId, attempt })),
    );
    const maps = tasks.filter((t) => t.kind === 'map');
    for (const [i, { t, attempt, backup }] of inFlight.entries()) {
      const fate = fates[i]!;
      const id = { jobId, taskId: t.taskId, attempt };
      // Each step re-reads the task and is guarded by its attempt, so acting on a record that an
      // earlier step of this loop changed (a backup whose primary just won) is refused, not
      // applied.
      if (fate.state === 'completed') await this.#completed(id, fate.result);
      else if (fate.state === 'failed') await this.#failed(id, fate.reason);
      else if (
        fate.state === 'active' &&
        (backup
          ? t.backupState === 'queued'
          : t.state === 'queued' || (fate.worker !== undefined && fate.worker !== t.worker))
      ) {
        await this.#o.jobs.moveTask(jobId, t.taskId, 'start', {
          attempt,
          patch: fate.worker ? { worker: fate.worker } : {},
        });
      } else if (fate.state === 'missing') {
        if (backup)
          await this.#o.jobs.dropBackup(
            jobId,
            t.taskId,
            attempt,
            new StrataError(
              'STRATA_E_TASK_LOST',
              `speculative attempt ${attempt} of ${t.taskId} vanished from the queue`,
            ).toJSON(),
          );
        else await this.#requeue(job, t, maps);
      }
    }
    await this.#advance(jobId);
    if (!this.#stopped) await this.#speculator.launch(jobId);
  }

  /** Removes attempts from the queue, and asks the workers to abort those already running. */
  async #cancelAttempts(
    jobId: string,
    attempts: ReadonlyArray<{ taskId: string; attempt: number }>,
    reason: string,
  ): Promise<void> {
    if (attempts.length === 0) return;
    const ids = attempts.map((a) => bullJobId({ jobId, ...a }));
    for (const id of ids)
      await this.#o.tasks
        .remove(id)
        .catch((err: unknown) =>
          this.#log.debug({ err, bullId: id }, 'could not remove a queued attempt'),
        );
    await this.#o.redis
      .publish(taskCancelChannel(this.#o.prefix), encodeTaskCancel({ ids, reason }))
      .catch((err: unknown) =>
        this.#log.warn(
          { err, jobId, ids },
          'could not announce cancelled attempts; their answers will be refused when they come',
        ),
      );
  }

  /** A queued attempt with no queue entry (a crash between record and add, or Redis lost it). */
  async #requeue(job: JobRecord, task: TaskRecord, maps: readonly TaskRecord[]): Promise<void> {
    if (task.kind === 'reduce' && !maps.every((m) => m.state === 'succeeded')) {
      // Its map outputs changed since: run it later with the new locations.
      await this.#policy.attemptFailed(
        job.id,
        task,
        new StrataError(
          'STRATA_E_TASK_LOST',
          `reduce ${task.taskId} of job ${job.id} vanished from the queue while a map was re-run`,
          { details: { jobId: job.id, taskId: task.taskId } },
        ),
        { counted: false },
      );
      return;
    }
    this.#log.warn(
      { jobId: job.id, taskId: task.taskId, attempt: task.attempt },
      'a queued task was missing from the queue; adding it again',
    );
    await this.#o.tasks.add(
      task.kind === 'map' ? mapPayload(job, task) : reducePayload(job, task, maps),
    );
  }

  async #commit(job: JobRecord, tasks: readonly TaskRecord[]): Promise<void> {
    const { store, redis, prefix } = this.#o;
    try {
      await commitJob(
        {
          store,
          prefix,
          log: this.#log,
          publish: (channel, message) => redis.publish(channel, message),
          ...(this.#o.versionsKept !== undefined ? { versionsKept: this.#o.versionsKept } : {}),
        },
        job,
        tasks,
      );
    } catch (err) {
      const e = toStrataError(err, 'STRATA_E_STORE_IO');
      const tries = (this.#commitFailures.get(job.id) ?? 0) + 1;
      this.#commitFailures.set(job.id, tries);
      if (e.retryable && tries < COMMIT_TRIES) {
        this.#log.warn(
          { err: e, jobId: job.id, tries },
          'commit failed; trying again at the next poll',
        );
        return;
      }
      this.#commitFailures.delete(job.id);
      const failure = new StrataError(
        'STRATA_E_JOB_FAILED',
        `committing version ${job.version} of view ${job.spec.view} failed (${e.message}); the view's published version is unchanged`,
        {
          cause: e,
          details: { jobId: job.id, view: job.spec.view, version: job.version },
        },
      );
      await this.#finish(job.id, 'fail', failure);
      return;
    }
    this.#commitFailures.delete(job.id);
    if ((await this.#o.jobs.finishJob(job.id, 'succeed', { version: job.version! })).ok) {
      this.#o.metrics?.jobFinished('succeeded', job.submitted);
      this.#log.info({ jobId: job.id, view: job.spec.view, version: job.version }, 'job succeeded');
    }
  }

  /**
   * Fails or cancels a job: tasks cancelled (in the same Redis step), queue entries removed, tmp/
   * cleaned.
   */
  async #finish(
    jobId: string,
    transition: 'fail' | 'cancel',
    error: StrataError,
  ): Promise<boolean> {
    const job = await this.#o.jobs.getJob(jobId);
    const done = await this.#o.jobs.finishJob(jobId, transition, { error: error.toJSON() });
    if (!done.ok || !job) return false;
    await this.#cancelAttempts(
      jobId,
      done.activeTasks,
      `job ${jobId} ${transition === 'fail' ? 'failed' : 'was cancelled'}`,
    );
    await abortJob(this.#o.store, jobId, this.#log);
    const state = transition === 'fail' ? 'failed' : 'cancelled';
    this.#o.metrics?.jobFinished(state, job.submitted);
    this.#log.info({ jobId, state, code: error.code, message: error.message }, `job ${state}`);
    return true;
  }
}

function resultProblem(
  task: TaskRecord,
  value: unknown,
  expectedOutputKey: string,
): string | undefined {
  const r = value as {
    kind?: unknown;
    output?: Partial<MapResult['output']>;
    outputKey?: unknown;
  } | null;
  if (typeof r !== 'object' || r === null || r.kind !== task.kind)
    return `a result that is not a ${task.kind} result: ${JSON.stringify(value)?.slice(0, 200)}`;
  if (
    task.kind === 'map' &&
    (typeof r.output?.mapOutputId !== 'string' || typeof r.output.address !== 'string')
  )
    return 'a map result without an output location';
  if (task.kind === 'reduce' && r.outputKey !== expectedOutputKey)
    return `a reduce result with outputKey ${JSON.stringify(r.outputKey)}, not the attempt's ${expectedOutputKey}`;
  return undefined;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
