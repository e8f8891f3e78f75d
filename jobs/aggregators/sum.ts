/**
 * `sum()`: the sum of the numbers emitted for a key.
 *
 *   defineJob({ name: 'bytes-per-host', input: { dataset: 'requests' },
 *     map: (r, emit) => emit(r.host, r.bytes), aggregate: sum() });
 *
 * Error bound: exact for integers while every partial sum stays within ±2^53. Fractional values
 * carry the usual float64 rounding, and because floating-point addition is not associative the
 * last bits may differ between runs that split the input differently (relative error ≲ n·2^-53).
 */
import type { Aggregator } from './aggregator.ts';
import { requireFiniteNumber } from './require-number.ts';

export function sum(): Aggregator<number, number, number> {
  return Object.freeze({
    name: 'sum',
    identity: () => 0,
    add: (acc: number, value: number) => acc + requireFiniteNumber('sum', value),
    merge: (a: number, b: number) => a + b,
    result: (acc: number) => acc,
  });
}
