/**
 * The types of a Strata job, as users write it and as the runtime sees it.
 *
 *   const job: JobDefinition<{ url: string }, number, number> = defineJob({ … });
 *
 * Glossary:
 * - record: one input record from the master dataset (a plain object).
 * - emit(key, value): map's output. A key is a string, a number, or a tuple of them; a scalar key
 *   `k` is the 1-tuple `[k]`. Views partition by the key's first element and sort by the whole key.
 * - combine(key, values): optional map-side pre-reduction for `reduce` jobs; may run zero or more
 *   times on any subset of a key's values, so it must return a value that `reduce` accepts
 *   exactly like the values it replaced.
 * - reduce(key, values): the view's value for a key, from all its values (any order).
 * - aggregate: a monoid (count(), sum(), distinct()…) used instead of reduce; it also combines
 *   map-side and lets the speed layer keep the view fresh incrementally.
 */
import type { Key, KeyPart } from '../core/keys/key-codec.ts';
import type { AnyAggregator } from './aggregators/aggregator.ts';

export type { Key, KeyPart };

/** A `--param k=v` value. */
export type ParamValue = string | number | boolean;
export type JobParams = Readonly<Record<string, ParamValue>>;

/** Which part of a dataset a job reads; dates are 'YYYY-MM-DD' event dates, both ends inclusive. */
export interface JobInput {
  readonly dataset: string;
  readonly from?: string;
  readonly to?: string;
}

/** Passed to map as its third argument. */
export interface JobContext {
  /** The job's `params` defaults, overridden by `--param k=v` (or runLocal's `params`). */
  readonly params: JobParams;
}

export type Emit<V> = (key: KeyPart | Key, value: V) => void;
export type MapFn<R, V> = (record: R, emit: Emit<V>, context: JobContext) => void;
export type CombineFn<V> = (key: Key, values: readonly V[]) => V;
export type ReduceFn<V, Out> = (key: Key, values: readonly V[]) => Out;

interface JobSpecBase<R, V> {
  /** The job's name: `[a-z0-9][a-z0-9_-]{0,63}`. */
  name: string;
  input: JobInput;
  /** Called once per input record; must be synchronous and emit zero or more key/value pairs. */
  map: MapFn<R, V>;
  /** Reduce partitions (view files), 1..4096. Default 8. */
  partitions?: number;
  /** The view the job publishes. Default: the job's name. */
  view?: string;
  /** Defaults for `--param k=v`, read in map as `context.params`. */
  params?: Record<string, ParamValue>;
  /**
   * How many bad input records the job may skip (Hadoop's skip mode). Default `{ max: 0 }`: the
   * first record map throws on, or the first segment block that fails its CRC, fails the job.
   * With a budget, such records (and every record of such a block) are skipped, counted in
   * counters.badRecords and written to `quarantine/<jobId>/`; the job fails once they pass `max`.
   */
  badRecords?: BadRecordsOption;
}

/** The bad-record budget of a job: `badRecords: { max: 100 }`. */
export interface BadRecordsOption {
  /** Bad records the whole job may skip; more fails it. A whole number ≥ 0. */
  max: number;
}

export interface ReduceJobSpec<R, V, Out> extends JobSpecBase<R, V> {
  reduce: ReduceFn<V, Out>;
  combine?: CombineFn<V>;
  aggregate?: never;
}

export interface AggregateJobSpec<R, V, Out> extends JobSpecBase<R, V> {
  aggregate: AnyAggregator<V, Out>;
  reduce?: never;
  combine?: never;
}

export type JobSpec<R, V, Out> = ReduceJobSpec<R, V, Out> | AggregateJobSpec<R, V, Out>;

/** The JSON-able part of a job the coordinator needs (the code travels as a bundle). */
export interface StaticJobSpec {
  name: string;
  input: { dataset: string; from?: string; to?: string };
  partitions: number;
  view: string;
  /** 'reduce' for a reduce function, 'aggregate:<name>' for an aggregator. */
  reduce: 'reduce' | `aggregate:${string}`;
  /** The aggregator's settings (e.g. { precision: 14 }), when there is one. */
  aggregateOptions?: Record<string, ParamValue>;
  /** Whether map output is combined map-side (a combine function or an aggregator). */
  combine: boolean;
  params: Record<string, ParamValue>;
  /** The bad-record budget, when the job sets one above 0. */
  badRecords?: BadRecordsOption;
}

/** What defineJob returns: frozen, branded, and all the runtime needs. */
export interface JobDefinition<R = Record<string, unknown>, V = unknown, Out = unknown> {
  readonly kind: 'strata.job';
  readonly name: string;
  readonly input: JobInput;
  readonly map: MapFn<R, V>;
  readonly combine: CombineFn<V> | undefined;
  readonly reduce: ReduceFn<V, Out> | undefined;
  readonly aggregate: AnyAggregator<V, Out> | undefined;
  readonly partitions: number;
  readonly view: string;
  readonly params: JobParams;
  /** `{ max: 0 }` unless the job set a budget. */
  readonly badRecords: Readonly<BadRecordsOption>;
  staticSpec(): StaticJobSpec;
}
