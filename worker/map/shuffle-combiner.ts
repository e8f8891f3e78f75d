/**
 * What a map task keeps per key and sends through the shuffle, for each kind of job:
 *
 *   aggregate  the accumulator: `add` each emitted value, `merge` across spills; the shuffle value
 *              is msgpack(encodeAccumulator(acc)), one entry per key and map output.
 *   combine    the emitted values, then `combine(key, values)` at each spill and again across
 *              spills; the shuffle value is msgpack([combined]).
 *   list       (reduce without combine) the emitted values as they are; the shuffle value is
 *              msgpack([v1, v2, …]). A long list is cut into several entries with the same key
 *              (run files allow repeated keys), so no single entry nears the 64 MiB entry limit,
 *              and runs are merged without decoding anything.
 *
 *   const c = shuffleCombiner(job, errors);
 *   let state = c.first(value, keyBytes, where);  state = c.add(state, value, keyBytes, where);
 *   const values = c.encode(keyBytes, state);                 // at a spill: shuffle values
 *   const merged = c.merge(keyBytes, [fromRun1, fromRun2]);   // across spills, in spill order
 *
 * Values of a key are kept in emission order and runs are merged in spill order, so a reduce
 * sees them in the same order runLocal does. Errors in user code are worded as runLocal words
 * them (job-errors.ts).
 */
import { decodeKey, type Key } from '../../core/keys/key-codec.ts';
import {
  decodeAccumulator,
  encodeAccumulator,
  type AnyAggregator,
} from '../../jobs/aggregators/aggregator.ts';
import type { JobDefinition } from '../../jobs/types.ts';
import type { JobErrors, KeyRef } from '../job-errors.ts';
import { packValue, unpackValue } from '../shuffle-value.ts';
import { approxBytes } from './approx-bytes.ts';

/** Describes the record being mapped, for error messages: "the record at position 12 (…)". */
export type Where = () => string;

export interface ShuffleCombiner {
  readonly kind: 'aggregate' | 'combine' | 'list';
  /**
   * A new key's state from its first value; `key` is the encoded key, decoded only for an error.
   */
  first(value: unknown, key: Uint8Array, where: Where): unknown;
  /** Folds one more value in; returns the state to keep (may be the same object). */
  add(state: unknown, value: unknown, key: Uint8Array, where: Where): unknown;
  /** Estimated heap bytes of a state; for lists this is kept up to date by the caller per value. */
  stateBytes(state: unknown): number;
  /** The shuffle values of one key at a spill (several only for long lists). */
  encode(key: KeyRef, state: unknown): Buffer[];
  /** Joins one key's shuffle values from several runs, in run order. */
  merge(key: KeyRef, values: Uint8Array[]): Uint8Array[];
}

/** Encoded bytes of one list entry before the list is cut into another entry. */
export const LIST_ENTRY_BYTES = 1024 * 1024;

export function shuffleCombiner(
  job: JobDefinition<unknown, unknown, unknown>,
  errors: JobErrors,
): ShuffleCombiner {
  if (job.aggregate) return aggregateCombiner(job.aggregate, errors);
  if (job.combine) return combineCombiner(job.combine, errors);
  return listCombiner();
}

function aggregateCombiner(agg: AnyAggregator, errors: JobErrors): ShuffleCombiner {
  // No closure per value: this runs once per emit.
  const addOne = (acc: unknown, value: unknown, key: Uint8Array, where: Where): unknown => {
    try {
      return agg.add(acc, value);
    } catch (err) {
      throw errors.wrap(
        err,
        key,
        () => `the aggregator ${agg.name}() failed to add the value emitted for ${where()}`,
      );
    }
  };
  return {
    kind: 'aggregate',
    first: (value, key, where) =>
      addOne(
        errors.guard(key, `the aggregator ${agg.name}() failed to make its identity`, () =>
          agg.identity(),
        ),
        value,
        key,
        where,
      ),
    add: addOne,
    stateBytes: approxBytes,
    encode: (key, acc) => [
      packValue(
        errors.guard(key, `the aggregator ${agg.name}() failed to encode its accumulator`, () =>
          encodeAccumulator(agg, acc),
        ),
      ),
    ],
    merge(key, values) {
      if (values.length === 1) return values;
      return [
        packValue(
          errors.guard(key, `the aggregator ${agg.name}() failed to merge`, () => {
            // decode hands us a fresh accumulator we own, so merging into it is allowed.
            let acc = decodeAccumulator(agg, unpackValue(values[0]!));
            for (let i = 1; i < values.length; i++)
              acc = agg.merge(acc, decodeAccumulator(agg, unpackValue(values[i]!)));
            return encodeAccumulator(agg, acc);
          }),
        ),
      ];
    },
  };
}

function combineCombiner(
  combine: (key: Key, values: readonly unknown[]) => unknown,
  errors: JobErrors,
): ShuffleCombiner {
  const combineAll = (key: KeyRef, values: unknown[]): Buffer => {
    const decoded = keyOf(key);
    const combined = errors.guard(decoded, 'combine threw', () => combine(decoded, values));
    errors.checkOutput(key, 'combine', combined);
    return packValue([combined]);
  };
  return {
    kind: 'combine',
    first: (value) => [value],
    add(state, value) {
      (state as unknown[]).push(value);
      return state;
    },
    stateBytes: listBytes,
    encode: (key, state) => [combineAll(key, state as unknown[])],
    merge(key, values) {
      if (values.length === 1) return values;
      const all: unknown[] = [];
      for (const v of values) for (const x of unpackValue(v) as unknown[]) all.push(x);
      return [combineAll(key, all)];
    },
  };
}

function listCombiner(): ShuffleCombiner {
  return {
    kind: 'list',
    first: (value) => [value],
    add(state, value) {
      (state as unknown[]).push(value);
      return state;
    },
    stateBytes: listBytes,
    encode: (_key, state) => packList(state as unknown[]),
    // Repeated keys are allowed in a run: the reduce side concatenates them in order.
    merge: (_key, values) => values,
  };
}

/** A list as one or more msgpack arrays of at most ~LIST_ENTRY_BYTES each, in order. */
function packList(values: unknown[]): Buffer[] {
  const whole = packValue(values);
  if (whole.length <= LIST_ENTRY_BYTES || values.length === 1) return [whole];
  const half = values.length >> 1;
  return [...packList(values.slice(0, half)), ...packList(values.slice(half))];
}

function keyOf(key: KeyRef): Key {
  return typeof key === 'function' ? key() : key instanceof Uint8Array ? decodeKey(key) : key;
}

function listBytes(state: unknown): number {
  let n = 16;
  for (const v of state as unknown[]) n += 8 + approxBytes(v);
  return n;
}
