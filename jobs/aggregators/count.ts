/**
 * `count()`: how many values were emitted for a key (the values themselves are ignored).
 *
 *   defineJob({ name: 'pageviews', input: { dataset: 'pageviews' },
 *     map: (r, emit) => emit(r.url, 1), aggregate: count() });
 *
 * Error bound: exact up to 2^53 values per key.
 */
import type { Aggregator } from './aggregator.ts';

export function count(): Aggregator<unknown, number, number> {
  return Object.freeze({
    name: 'count',
    identity: () => 0,
    add: (acc: number) => acc + 1,
    merge: (a: number, b: number) => a + b,
    result: (acc: number) => acc,
  });
}
