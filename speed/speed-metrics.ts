/**
 * The speed layer's Prometheus metrics, on a registry of its own (several servers can live in one
 * test process).
 *
 *   const metrics = new SpeedMetrics();
 *   metrics.records.inc({ dataset: 'ticks' }, 812);
 *   reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class SpeedMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'status'>;
  /** Records acknowledged. */
  readonly records: Counter<'dataset'>;
  readonly commits: Counter<'dataset' | 'outcome'>;
  /** From begin to the last acknowledgement of a group commit. */
  readonly commitLatency: Histogram<'dataset'>;
  readonly commitRecords: Histogram<'dataset'>;
  /** Records accepted and waiting for a commit. */
  readonly queueRecords: Gauge<'dataset'>;
  readonly recovered: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'strata_speed_requests_total',
      help: 'Ingest requests answered, by HTTP status.',
      labelNames: ['status'],
      registers,
    });
    this.records = new Counter({
      name: 'strata_speed_records_total',
      help: 'Records acknowledged (durable in the master dataset), by dataset.',
      labelNames: ['dataset'],
      registers,
    });
    this.commits = new Counter({
      name: 'strata_speed_commits_total',
      help: 'Group commits, by dataset and outcome (ok, failed).',
      labelNames: ['dataset', 'outcome'],
      registers,
    });
    this.commitLatency = new Histogram({
      name: 'strata_speed_commit_duration_seconds',
      help: 'From taking a group off the queue to acknowledging it (encode, begin, durable put, realtime fold, complete).',
      labelNames: ['dataset'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.commitRecords = new Histogram({
      name: 'strata_speed_commit_records',
      help: 'Records per group commit.',
      labelNames: ['dataset'],
      buckets: [1, 10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000],
      registers,
    });
    this.queueRecords = new Gauge({
      name: 'strata_speed_queue_records',
      help: 'Records accepted and waiting for their group commit, by dataset.',
      labelNames: ['dataset'],
      registers,
    });
    this.recovered = new Counter({
      name: 'strata_speed_recovered_commits_total',
      help: 'Unfinished commits settled by recovery: folded (segments were there) or dropped (none were).',
      labelNames: ['outcome'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
