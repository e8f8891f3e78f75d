/**
 * Which running tasks are stragglers worth a speculative second attempt (Hadoop's and Spark's
 * speculative execution, in our words): a task far slower than its finished peers is more likely
 * stuck on a bad machine than given more work, so a copy on another worker often finishes first.
 *
 *   const settings = speculationSettings(config);          // { multiplier: 3, minMs: 10_000, quantile: 0.75 }
 *   findStragglers(tasks, Date.now(), settings)            // running tasks to back up, longest-running first
 *
 * A task of one kind (map or reduce) of one job qualifies when
 * - at least `quantile` of that kind's tasks have succeeded (one at least: a median needs data),
 * - it has been running longer than max(minMs, multiplier × the median duration of those),
 * - it has no backup in flight and its current attempt never had one.
 * A multiplier of 0 turns speculation off. Durations are the coordinator's own: from the attempt's
 * start (BullMQ 'active') to its success, so they include the worker's queueing in its thread,
 * which is exactly what a slow machine shows. Attempts taken again after a stall count from their
 * new start. Whether a backup is worth launching at all (enough live workers) is the scheduler's
 * call.
 */
import type { StrataConfig } from '../../core/config.ts';
import type { TaskKind, TaskRecord } from '../state/task-record.ts';

export interface SpeculationSettings {
  /** 0 turns speculation off. */
  multiplier: number;
  minMs: number;
  /** 0…1 */
  quantile: number;
}

export function speculationSettings(
  config: Pick<StrataConfig, 'speculationMultiplier' | 'speculationMinMs' | 'speculationQuantile'>,
): SpeculationSettings {
  return {
    multiplier: config.speculationMultiplier,
    minMs: config.speculationMinMs,
    quantile: config.speculationQuantile,
  };
}

export function findStragglers(
  tasks: readonly TaskRecord[],
  now: number,
  settings: SpeculationSettings,
): TaskRecord[] {
  if (!(settings.multiplier > 0)) return [];
  const out: TaskRecord[] = [];
  for (const kind of ['map', 'reduce'] as TaskKind[]) {
    const ofKind = tasks.filter((t) => t.kind === kind);
    const finished = ofKind.flatMap((t) => {
      const d = t.state === 'succeeded' ? duration(t) : undefined;
      return d === undefined ? [] : [d];
    });
    if (finished.length === 0 || finished.length < Math.ceil(settings.quantile * ofKind.length))
      continue;
    const threshold = Math.max(settings.minMs, settings.multiplier * median(finished));
    for (const t of ofKind) {
      const since = startOf(t);
      if (
        t.state === 'running' &&
        t.backup === undefined &&
        t.speculatedFor !== t.attempt &&
        since !== undefined &&
        now - since > threshold
      )
        out.push(t);
    }
  }
  return out.sort((a, b) => startOf(a)! - startOf(b)!);
}

function startOf(t: TaskRecord): number | undefined {
  return t.runningAt ?? t.queuedAt;
}

function duration(t: TaskRecord): number | undefined {
  const since = startOf(t);
  return since === undefined || t.succeededAt === undefined
    ? undefined
    : Math.max(0, t.succeededAt - since);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
