/**
 * JobStatus: what GET /v1/jobs/:id answers, built from the job and task records in Redis.
 *
 *   const status = jobStatus(job, tasks, { withTasks: true });
 *   status.phases.map   // { total: 12, done: 7, running: 4, failed: 1 }
 *
 * Counters are the sum over the tasks whose current attempt succeeded (a retried task counts
 * once), for the job and per phase (the map phase's recordsIn/bytesIn is the input read so far). In a phase, `running` counts tasks a worker has taken (queued ones are neither running
 * nor done) and `failed` counts failed attempts, so retries show while the job still runs.
 */
import type { StrataErrorJSON } from '../core/errors.ts';
import { addCounters, emptyCounters, type Counters, type JobSpec } from '../core/tasks/task-payload.ts';
import type { JobState } from './state/job-state.ts';
import type { JobRecord } from './state/job-store.ts';
import type { TaskKind, TaskRecord } from './state/task-record.ts';
import type { TaskState } from './state/task-state.ts';

export interface PhaseProgress {
  total: number;
  done: number;
  running: number;
  failed: number;
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

export function jobStatus(job: JobRecord, tasks: readonly TaskRecord[], opts: { withTasks?: boolean } = {}): JobStatus {
  let counters = emptyCounters();
  for (const t of tasks) if (t.state === 'succeeded' && t.counters) counters = addCounters(counters, t.counters);
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
      ...(t.error ?? t.lastError ? { error: t.error ?? t.lastError } : {}),
    }));
  }
  return status;
}

function phase(tasks: readonly TaskRecord[], kind: TaskKind): PhaseProgress {
  const p: PhaseProgress = { total: 0, done: 0, running: 0, failed: 0, counters: emptyCounters() };
  for (const t of tasks) {
    if (t.kind !== kind) continue;
    p.total++;
    if (t.state === 'succeeded') {
      p.done++;
      if (t.counters) p.counters = addCounters(p.counters, t.counters);
    } else if (t.state === 'running') p.running++;
    p.failed += t.failures;
  }
  return p;
}
