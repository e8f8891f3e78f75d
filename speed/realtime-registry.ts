/**
 * Which views the speed layer keeps realtime, and how often the batch layer recomputes them:
 * one Redis hash, `<prefix>:realtime:views`, view → registration JSON.
 *
 *   await registerRealtimeView(redis, prefix, { view: 'pageviews', dataset: 'pageviews', spec, everyMs: 600_000 });
 *   const regs = await listRealtimeViews(redis, prefix);   // every registration, by view
 *
 * The commit protocol (commit-log.ts) reads this hash inside the Lua that numbers a commit, so
 * "which views fold this commit" is decided atomically with the commit: a commit numbered after
 * a registration is folded into that view, one numbered before is covered by the next batch
 * (which seals the dataset after the registration). See docs/speed-layer.md.
 */
import type { Redis } from 'ioredis';
import { StrataError } from '../core/errors.ts';
import type { JobSpec } from '../core/tasks/task-payload.ts';

export interface RealtimeRegistration {
  view: string;
  dataset: string;
  /** The job as the batch layer runs it (its bundle's hash, params, partitions…). */
  spec: JobSpec;
  /** How often the batch layer recomputes the view; null: only when asked (`strata batch`). */
  everyMs: number | null;
  registeredAt: number;
}

export const realtimeViewsKey = (prefix: string): string => `${prefix}:realtime:views`;
/** When the batch loop last started a recomputation of the view (ms). */
export const lastBatchKey = (prefix: string, view: string): string =>
  `${prefix}:realtime:last-batch:${view}`;

/**
 * A job can be kept realtime when its reduce is an aggregator: a monoid merges batch and realtime
 * exactly.
 */
export function assertRealtimeable(spec: JobSpec): void {
  if (!spec.reduce.startsWith('aggregate:')) {
    throw new StrataError(
      'STRATA_E_REALTIME_JOB',
      `job ${spec.name} has a reduce function; only jobs whose reduce is an aggregator (aggregate: count(), sum(), distinct(), …) can be kept realtime, because the speed layer merges partial results with the aggregator's merge`,
      { details: { job: spec.name, view: spec.view } },
    );
  }
  if (spec.input.to !== undefined) {
    throw new StrataError(
      'STRATA_E_REALTIME_JOB',
      `job ${spec.name} reads its input only up to ${spec.input.to}; a realtime view follows new events, so remove input.to`,
      {
        details: { job: spec.name, to: spec.input.to },
      },
    );
  }
}

export async function registerRealtimeView(
  redis: Redis,
  prefix: string,
  reg: Omit<RealtimeRegistration, 'registeredAt' | 'dataset' | 'view'> & { now?: number },
): Promise<RealtimeRegistration> {
  assertRealtimeable(reg.spec);
  const { realtime: _ignored, ...spec } = reg.spec as JobSpec & { realtime?: unknown };
  const full: RealtimeRegistration = {
    view: spec.view,
    dataset: spec.input.dataset,
    spec,
    everyMs: reg.everyMs,
    registeredAt: reg.now ?? Date.now(),
  };
  await redis.hset(realtimeViewsKey(prefix), spec.view, JSON.stringify(full));
  return full;
}

export async function unregisterRealtimeView(
  redis: Redis,
  prefix: string,
  view: string,
): Promise<boolean> {
  return (await redis.hdel(realtimeViewsKey(prefix), view)) === 1;
}

export async function getRealtimeView(
  redis: Redis,
  prefix: string,
  view: string,
): Promise<RealtimeRegistration | undefined> {
  const raw = await redis.hget(realtimeViewsKey(prefix), view);
  return raw === null ? undefined : (JSON.parse(raw) as RealtimeRegistration);
}

export async function listRealtimeViews(
  redis: Redis,
  prefix: string,
): Promise<RealtimeRegistration[]> {
  const all = await redis.hgetall(realtimeViewsKey(prefix));
  return Object.values(all)
    .map((raw) => JSON.parse(raw) as RealtimeRegistration)
    .sort((a, b) => (a.view < b.view ? -1 : a.view > b.view ? 1 : 0));
}

export async function setBatchCadence(
  redis: Redis,
  prefix: string,
  view: string,
  everyMs: number | null,
): Promise<RealtimeRegistration> {
  const reg = await getRealtimeView(redis, prefix, view);
  if (!reg) throw notRegistered(view);
  const next = { ...reg, everyMs };
  await redis.hset(realtimeViewsKey(prefix), view, JSON.stringify(next));
  return next;
}

export function notRegistered(view: string): StrataError {
  return new StrataError(
    'STRATA_E_REALTIME_NOT_REGISTERED',
    `view ${JSON.stringify(view)} is not registered for realtime; register its job with \`strata views register <job.ts>\` (strata views realtime lists the registered ones)`,
    {
      details: { view },
    },
  );
}
