/**
 * Launches speculative backup attempts for a job's stragglers (speculation.ts picks them) and
 * counts how backups end, in `strata_speculative_attempts_total{kind, outcome}`.
 *
 *   const speculator = new Speculator({ jobs, tasks, redis, prefix, settings, log, metrics });
 *   await speculator.launch(jobId);      // at each reconciliation: records the backup, then enqueues it
 *   speculator.settled('map', true);     // a backup won (false: its primary did)
 *
 * A backup is only worth it on another machine, so it is launched only while at least two
 * workers heartbeat, and at most one backup per live worker beyond the first is in flight per job.
 * A reduce is not backed up while one of its maps runs again (its inputs are moving). The backup
 * is recorded before it is enqueued (job-store speculateTask), so a crash in between leaves a
 * backup that reconciliation finds missing from the queue and drops.
 */
import type { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import type { Logger } from '../../core/log.ts';
import type { CoordinatorMetrics } from '../coordinator-metrics.ts';
import type { JobStore } from '../state/job-store.ts';
import type { TaskKind } from '../state/task-record.ts';
import { findStragglers, type SpeculationSettings } from './speculation.ts';
import { mapPayload, reducePayload, type TaskQueue } from './task-queue.ts';
import { aliveWorkers } from './worker-liveness.ts';

export interface SpeculatorOptions {
  jobs: JobStore;
  tasks: TaskQueue;
  redis: Redis;
  prefix: string;
  /** Absent, or multiplier 0: no backups. */
  settings: SpeculationSettings | undefined;
  log: Logger;
  metrics?: CoordinatorMetrics;
}

export class Speculator {
  readonly #o: SpeculatorOptions;
  readonly #outcomes: Counter<'kind' | 'outcome'> | undefined;

  constructor(options: SpeculatorOptions) {
    this.#o = options;
    this.#outcomes = options.metrics
      ? new Counter({
          name: 'strata_speculative_attempts_total',
          help: 'Speculative backup attempts of straggling tasks, by kind and outcome (launched, won, lost).',
          labelNames: ['kind', 'outcome'],
          registers: [options.metrics.registry],
        })
      : undefined;
  }

  get enabled(): boolean {
    return (this.#o.settings?.multiplier ?? 0) > 0;
  }

  async launch(jobId: string): Promise<void> {
    const { jobs, settings } = this.#o;
    if (!settings || !this.enabled) return;
    const job = await jobs.getJob(jobId);
    if (!job || (job.state !== 'mapping' && job.state !== 'reducing')) return;
    const tasks = await jobs.getTasks(jobId);
    const stragglers = findStragglers(tasks, Date.now(), settings);
    if (stragglers.length === 0) return;
    let room =
      (await aliveWorkers(this.#o.redis, this.#o.prefix)).length -
      1 -
      tasks.filter((t) => t.backup !== undefined).length;
    const maps = tasks.filter((t) => t.kind === 'map');
    for (const t of stragglers) {
      if (room <= 0) break;
      if (t.kind === 'reduce' && !maps.every((m) => m.state === 'succeeded')) continue;
      const r = await jobs.speculateTask(jobId, t.taskId, t.attempt);
      if (!r.ok) continue;
      room--;
      const copy = { ...t, attempt: r.backup };
      await this.#o.tasks.add(
        t.kind === 'map' ? mapPayload(job, copy) : reducePayload(job, copy, maps),
      );
      this.#outcomes?.inc({ kind: t.kind, outcome: 'launched' });
      this.#o.metrics?.tasksEnqueued.inc({ kind: t.kind });
      const runningMs = Date.now() - (t.runningAt ?? t.queuedAt ?? Date.now());
      this.#o.log.info(
        {
          jobId,
          taskId: t.taskId,
          attempt: t.attempt,
          backup: r.backup,
          worker: t.worker,
          runningMs,
        },
        'straggler: launched a speculative attempt',
      );
    }
  }

  /** A task with a backup succeeded: `won` when the backup was first. */
  settled(kind: TaskKind, won: boolean): void {
    this.#outcomes?.inc({ kind, outcome: won ? 'won' : 'lost' });
  }
}
