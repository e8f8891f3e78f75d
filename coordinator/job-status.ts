/**
 * JobStatus: what GET /v1/jobs/:id answers, built from the job and task records in Redis.
 *
 *   const status = jobStatus(job, tasks, { withTasks: true });
 *   status.phases.map   // { total: 12, done: 7, running: 4, failed: 1 }
 *
 * Counters are the sum over the tasks whose current attempt succeeded (a retried task counts
 * once), for the job and per phase (the map phase's recordsIn/bytesIn is the input read so far).
 * In a phase, `running` counts tasks a worker has taken (queued ones are neither running nor
 * done) and `failed` counts failed attempts, so retries show while the job still runs. Faults
 * show too: `stalls` (attempts whose worker died and that went back on the queue) and
 * `speculative` (backup attempts launched for stragglers, how many won, how many run now); per
 * task, `speculative: true` marks a current attempt that was launched as a backup and
 * `backup` a backup still in flight.
 */
import type { StrataErrorJSON } from '../core/errors.ts';
import {
  addCounters,
  emptyCounters,
  type Counters,
  type JobSpec,
} from '../core/tasks/task-payload.ts';
import type { JobState } from './state/job-state.ts';
import type { JobRecord } from './state/job-store.ts';
import type { TaskKind, TaskRecord } from './state/task-record.ts';
import type { TaskState } from './state/task-state.ts';

export interface PhaseProgress {
  total: number;
  done: number;
  running: number;
  failed: number;
  /**
   * Attempts that stalled (their worker died or froze) and went back on the queue. Always set by
   * jobStatus.
   */
  stalls?: number;
  /**
   * Speculative backup attempts: launched in all, won (their task succeeded with them), in flight.
   * Always set by jobStatus.
   */
  speculative?: { launched: number; won: number; running: number };
  /** Summed over this phase's succeeded tasks: map recordsIn/bytesIn is input read so far. */
  counters: Counters;
}

export interface TaskStatus {
  taskId: string;
  kind: TaskKind;
  state: TaskState;
  attempt: number;
  worker?: string;
  counters?: Counters;
  error?: StrataErrorJSON;
  /** Times an attempt of this task stalled (its worker died) and was taken again. */
  stalls?: number;
  /** Speculative attempts launched for this task. */
  speculations?: number;
  /** The current attempt was launched as a speculative backup (succeeded: the backup won). */
  speculative?: boolean;
  /** A speculative backup in flight beside the current attempt. */
  backup?: { attempt: number; state: 'queued' | 'running'; worker?: string };
}

export interface JobStatus {
  id: string;
  state: JobState;
  spec: JobSpec;
  /** The published version, once succeeded. */
  version?: string;
  error?: StrataErrorJSON;
  counters: Counters;
  submitted: number;
  started?: number;
  finished?: number;
  phases: { map: PhaseProgress; reduce: PhaseProgress };
  inputBytes: number;
  inputRecords: number;
  tasks?: TaskStatus[];
}

export function jobStatus(
  job: JobRecord,
  tasks: readonly TaskRecord[],
  opts: { withTasks?: boolean } = {},
): JobStatus {
  let counters = emptyCounters();
  for (const t of tasks)
    if (t.state === 'succeeded' && t.counters) counters = addCounters(counters, t.counters);
  const status: JobStatus = {
    id: job.id,
    state: job.state,
    spec: job.spec,
    ...(job.state === 'succeeded' && job.version ? { version: job.version } : {}),
    ...(job.error ? { error: job.error } : {}),
    counters,
    submitted: job.submitted,
    ...(job.started !== undefined ? { started: job.started } : {}),
    ...(job.finished !== undefined ? { finished: job.finished } : {}),
    phases: { map: phase(tasks, 'map'), reduce: phase(tasks, 'reduce') },
    inputBytes: job.inputBytes,
    inputRecords: job.inputRecords,
  };
  if (opts.withTasks) {
    status.tasks = tasks.map((t) => ({
      taskId: t.taskId,
      kind: t.kind,
      state: t.state,
      attempt: t.attempt,
      ...(t.worker ? { worker: t.worker } : {}),
      ...(t.counters ? { counters: t.counters } : {}),
      ...((t.error ?? t.lastError) ? { error: t.error ?? t.lastError } : {}),
      ...(t.stalls ? { stalls: t.stalls } : {}),
      ...(t.speculations ? { speculations: t.speculations } : {}),
      ...(t.speculative ? { speculative: true } : {}),
      ...(t.backup !== undefined
        ? {
            backup: {
              attempt: t.backup,
              state: t.backupState ?? 'queued',
              ...(t.backupWorker ? { worker: t.backupWorker } : {}),
            },
          }
        : {}),
    }));
  }
  return status;
}

function phase(tasks: readonly TaskRecord[], kind: TaskKind): PhaseProgress {
  const speculative = { launched: 0, won: 0, running: 0 };
  const p = {
    total: 0,
    done: 0,
    running: 0,
    failed: 0,
    stalls: 0,
    speculative,
    counters: emptyCounters(),
  } satisfies PhaseProgress;
  for (const t of tasks) {
    if (t.kind !== kind) continue;
    p.total++;
    if (t.state === 'succeeded') {
      p.done++;
      if (t.counters) p.counters = addCounters(p.counters, t.counters);
      if (t.speculative) speculative.won++;
    } else if (t.state === 'running') p.running++;
    p.failed += t.failures;
    p.stalls += t.stalls ?? 0;
    speculative.launched += t.speculations ?? 0;
    if (t.backup !== undefined) speculative.running++;
  }
  return p;
}
