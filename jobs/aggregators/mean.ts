/**
 * `mean()`: the arithmetic mean of the numbers emitted for a key, kept as `{ sum, count }` so
 * partial results merge exactly.
 *
 *   defineJob({ name: 'avg-duration', input: { dataset: 'pageviews' },
 *     map: (r, emit) => emit(r.url, r.durationMs), aggregate: mean() });
 *
 * Error bound: `count` is exact; `sum` has the error bound of `sum()` (exact for integer values
 * while the total stays within ±2^53), so the mean is correctly rounded from them. An empty
 * accumulator's result is NaN (a view never holds one).
 */
import type { Aggregator } from './aggregator.ts';
import { requireFiniteNumber } from './require-number.ts';

export interface MeanAcc {
  sum: number;
  count: number;
}

export function mean(): Aggregator<number, MeanAcc, number> {
  return Object.freeze({
    name: 'mean',
    identity: (): MeanAcc => ({ sum: 0, count: 0 }),
    add(acc: MeanAcc, value: number): MeanAcc {
      acc.sum += requireFiniteNumber('mean', value);
      acc.count += 1;
      return acc;
    },
    merge(a: MeanAcc, b: MeanAcc): MeanAcc {
      a.sum += b.sum;
      a.count += b.count;
      return a;
    },
    result: (acc: MeanAcc) => (acc.count === 0 ? NaN : acc.sum / acc.count),
    encode: (acc: MeanAcc) => ({ sum: acc.sum, count: acc.count }),
    decode(encoded: unknown): MeanAcc {
      const e = encoded as MeanAcc;
      return { sum: Number(e.sum), count: Number(e.count) };
    },
  });
}
