/**
 * The coordinator's Prometheus metrics, on a registry of its own (several coordinators can
 * live in one test process).
 *
 *   const metrics = new CoordinatorMetrics(() => jobs.liveStates());
 *   metrics.taskFinished('map', 'succeeded', 1.2);
 *   reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobState } from './state/job-state.ts';
import type { TaskKind } from './state/task-record.ts';

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly jobsSubmitted: Counter;
  readonly jobsRejected: Counter<'code'>;
  readonly jobsFinished: Counter<'state'>;
  readonly jobDuration: Histogram<'state'>;
  readonly tasksEnqueued: Counter<'kind'>;
  readonly tasksFinished: Counter<'kind' | 'outcome'>;
  readonly taskRetries: Counter<'kind' | 'reason'>;
  readonly taskDuration: Histogram<'kind'>;

  /** `liveStates` answers the state of every job not yet terminal (read at scrape time). */
  constructor(liveStates: () => Promise<JobState[]>) {
    const registers = [this.registry];
    this.jobsSubmitted = new Counter({
      name: 'strata_jobs_submitted_total',
      help: 'Jobs accepted by POST /v1/jobs.',
      registers,
    });
    this.jobsRejected = new Counter({
      name: 'strata_jobs_rejected_total',
      help: 'Job submissions answered 4xx, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.jobsFinished = new Counter({
      name: 'strata_jobs_finished_total',
      help: 'Jobs that reached a terminal state, by state.',
      labelNames: ['state'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'strata_job_duration_seconds',
      help: 'Submit to terminal state, by final state.',
      labelNames: ['state'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.tasksEnqueued = new Counter({
      name: 'strata_tasks_enqueued_total',
      help: 'Task attempts put on the queue, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.tasksFinished = new Counter({
      name: 'strata_tasks_finished_total',
      help: 'Task attempts that ended, by kind and outcome (succeeded, retried, failed).',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.taskRetries = new Counter({
      name: 'strata_task_retries_total',
      help: 'Tasks run again, by kind and reason (failure, lost, fetch-failed, output-lost).',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'strata_task_duration_seconds',
      help: 'Queued to succeeded, per successful attempt.',
      labelNames: ['kind'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    new Gauge({
      name: 'strata_jobs',
      help: 'Jobs not yet finished, by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts: Record<string, number> = {
          planning: 0,
          mapping: 0,
          reducing: 0,
          committing: 0,
        };
        for (const s of await liveStates()) counts[s] = (counts[s] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  taskSucceeded(kind: TaskKind, seconds: number | undefined): void {
    this.tasksFinished.inc({ kind, outcome: 'succeeded' });
    if (seconds !== undefined && seconds >= 0) this.taskDuration.observe({ kind }, seconds);
  }

  jobFinished(state: JobState, submitted: number, now = Date.now()): void {
    this.jobsFinished.inc({ state });
    this.jobDuration.observe({ state }, Math.max(0, now - submitted) / 1000);
  }
}
