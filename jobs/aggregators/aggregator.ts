/**
 * The contract every aggregator keeps: a commutative monoid over a plain accumulator.
 *
 *   const agg = sum();
 *   let acc = agg.identity();
 *   for (const v of [1, 2, 3]) acc = agg.add(acc, v);
 *   agg.result(agg.merge(acc, agg.identity())); // 6
 *
 * Glossary:
 * - identity(): a fresh empty accumulator; `merge(identity(), a)` equals `a`.
 * - add(acc, value): folds one emitted value in. Runs map-side (the combiner), in reduce and in
 *   the speed layer.
 * - merge(a, b): joins two accumulators built from disjoint parts of the input. Associative and
 *   commutative, so splits, spills, reduce inputs and realtime buckets can meet in any order.
 * - result(acc): the value a view stores for a key.
 * - encode/decode: to and from a msgpack-friendly plain value (numbers, strings, arrays, plain
 *   objects, Uint8Array), because accumulators cross threads, gRPC and live in Redis. Absent only
 *   when the accumulator is an immutable plain value (a number), so there is nothing to copy.
 *
 * Ownership: `add` and `merge` may update their FIRST argument in place and return it, so a caller
 * passes an accumulator it owns and uses only the returned one afterwards. The second argument of
 * `merge` is never modified. `decode` always returns a fresh accumulator the caller owns.
 */

export interface Aggregator<In, Acc, Out> {
  /** Stable name; the job's static spec records it as `aggregate:<name>`. */
  readonly name: string;
  /** JSON-able settings (e.g. `{ precision: 14 }`), recorded in the static spec. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
  identity(): Acc;
  add(acc: Acc, value: In): Acc;
  merge(a: Acc, b: Acc): Acc;
  result(acc: Acc): Out;
  encode?(acc: Acc): unknown;
  decode?(encoded: unknown): Acc;
}

/** Any aggregator, whatever its accumulator; what a job definition holds. */
// `any`: Acc is private to each aggregator.
export type AnyAggregator<In = any, Out = unknown> = Aggregator<In, any, Out>;

/** The value type an aggregator accepts / produces. */
export type AggregatorInput<A> =
  A extends Aggregator<infer In, infer _Acc, infer _Out> ? In : never;
export type AggregatorOutput<A> =
  A extends Aggregator<infer _In, infer _Acc, infer Out> ? Out : never;

const AGGREGATOR_METHODS = ['identity', 'add', 'merge', 'result'] as const;

/** True when `x` has the shape of an aggregator (used to validate `defineJob({ aggregate })`). */
export function isAggregator(x: unknown): x is AnyAggregator {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name === '') return false;
  if (!AGGREGATOR_METHODS.every((m) => typeof o[m] === 'function')) return false;
  if ((o.encode === undefined) !== (o.decode === undefined)) return false;
  return (
    (o.encode === undefined || typeof o.encode === 'function') &&
    (o.decode === undefined || typeof o.decode === 'function')
  );
}

/** The accumulator as it crosses a boundary (msgpack, Redis). */
export function encodeAccumulator<Acc>(agg: Aggregator<unknown, Acc, unknown>, acc: Acc): unknown {
  return agg.encode ? agg.encode(acc) : acc;
}

/** The accumulator back from a boundary; the caller owns the result. */
export function decodeAccumulator<Acc>(
  agg: Aggregator<unknown, Acc, unknown>,
  encoded: unknown,
): Acc {
  return agg.decode ? agg.decode(encoded) : (encoded as Acc);
}

/** Folds values into a fresh accumulator: what a map-side combiner does for one key. */
export function foldValues<In, Acc, Out>(agg: Aggregator<In, Acc, Out>, values: Iterable<In>): Acc {
  let acc = agg.identity();
  for (const v of values) acc = agg.add(acc, v);
  return acc;
}
