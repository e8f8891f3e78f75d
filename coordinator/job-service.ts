/**
 * What the HTTP API does, without HTTP: submit, read, list and cancel jobs.
 *
 *   const service = new JobService({ jobs, scheduler, store, splitTargetBytes, metrics });
 *   const status = await service.submit(body.spec);    // throws a StrataError for a bad submission
 *   await service.get(status.id, { withTasks: true });
 *
 * A submission is checked and planned completely (spec, bundle, dataset, dates, footers) before
 * anything is written, so a rejected one leaves no job, no task and no queue entry.
 */
import { StrataError } from '../core/errors.ts';
import type { ObjectStore } from '../core/store/store.ts';
import type { JobSpec, RealtimeBoundary } from '../core/tasks/task-payload.ts';
import type { CoordinatorMetrics } from './coordinator-metrics.ts';
import { parseJobSpec } from './job-spec-schema.ts';
import { jobStatus, type JobStatus } from './job-status.ts';
import { planJob } from './plan/plan-job.ts';
import type { Scheduler } from './schedule/scheduler.ts';
import { isTerminalJobState } from './state/job-state.ts';
import { newJobId, type JobStore, type NewTask } from './state/job-store.ts';

export interface JobServiceOptions {
  jobs: JobStore;
  scheduler: Scheduler;
  store: ObjectStore;
  /** config.splitTargetBytes */
  splitTargetBytes: number;
  metrics?: CoordinatorMetrics;
}

export class JobService {
  readonly #o: JobServiceOptions;

  constructor(options: JobServiceOptions) {
    this.#o = options;
  }

  /**
   * `opts.realtime`: the batch run of a realtime view (realtime-batches.ts only; never from a
   * client): reads the segments up to the sealed bucket and writes accumulators, not results.
   */
  async submit(specInput: unknown, opts: { realtime?: RealtimeBoundary } = {}): Promise<JobStatus> {
    const spec: JobSpec = {
      ...parseJobSpec(specInput),
      ...(opts.realtime ? { realtime: opts.realtime } : {}),
    };
    const plan = await planJob(this.#o.store, spec, {
      splitTargetBytes: this.#o.splitTargetBytes,
      ...(opts.realtime ? { maxBucket: opts.realtime.boundary } : {}),
    });
    const tasks: NewTask[] = [
      ...plan.splits.map((split, i): NewTask => ({ taskId: `m-${i}`, kind: 'map', split })),
      ...Array.from({ length: spec.partitions }, (_, p): NewTask => ({
        taskId: `r-${p}`,
        kind: 'reduce',
        partition: p,
      })),
    ];
    let id = '';
    for (let tries = 0; tries < 5 && !id; tries++) {
      const candidate = newJobId();
      const created = await this.#o.jobs.createJob(
        {
          id: candidate,
          spec,
          input: plan.input,
          inputBytes: plan.inputBytes,
          inputRecords: plan.inputRecords,
          submitted: Date.now(),
        },
        tasks,
      );
      if (created) id = candidate;
    }
    if (!id)
      throw new StrataError('STRATA_E_INTERNAL', 'could not find a free job id after 5 tries');
    this.#o.metrics?.jobsSubmitted.inc();
    await this.#o.scheduler.advance(id);
    return this.get(id);
  }

  async get(id: string, opts: { withTasks?: boolean } = {}): Promise<JobStatus> {
    const job = await this.#o.jobs.getJob(id);
    if (!job) throw notFound(id);
    return jobStatus(job, await this.#o.jobs.getTasks(id), opts);
  }

  /** Newest first. */
  async list(opts: { limit?: number } = {}): Promise<JobStatus[]> {
    const ids = await this.#o.jobs.listJobIds(opts.limit ?? 100);
    const out: JobStatus[] = [];
    for (const id of ids) {
      const job = await this.#o.jobs.getJob(id);
      if (job) out.push(jobStatus(job, await this.#o.jobs.getTasks(id)));
    }
    return out;
  }

  /** Cancels a job; a job already finished (or committing) is answered as it is. */
  async cancel(id: string): Promise<JobStatus> {
    const job = await this.#o.jobs.getJob(id);
    if (!job) throw notFound(id);
    if (!isTerminalJobState(job.state)) await this.#o.scheduler.cancel(id);
    return this.get(id);
  }
}

function notFound(id: string): StrataError {
  return new StrataError(
    'STRATA_E_JOB_NOT_FOUND',
    `no job ${JSON.stringify(id)} on this coordinator; list jobs with GET /v1/jobs (strata jobs)`,
    { details: { jobId: id } },
  );
}
