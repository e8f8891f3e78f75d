/**
 * `min()` and `max()`: the smallest / largest number emitted for a key.
 *
 *   defineJob({ name: 'slowest-page', input: { dataset: 'pageviews' },
 *     map: (r, emit) => emit(r.url, r.durationMs), aggregate: max() });
 *
 * Error bound: exact. The identity is +Infinity for min and -Infinity for max (a key with no
 * values never reaches a view, so users never see it); msgpack carries both as float64.
 */
import type { Aggregator } from './aggregator.ts';
import { requireFiniteNumber } from './require-number.ts';

export function min(): Aggregator<number, number, number> {
  return Object.freeze({
    name: 'min',
    identity: () => Infinity,
    add: (acc: number, value: number) => Math.min(acc, requireFiniteNumber('min', value)),
    merge: (a: number, b: number) => Math.min(a, b),
    result: (acc: number) => acc,
  });
}

export function max(): Aggregator<number, number, number> {
  return Object.freeze({
    name: 'max',
    identity: () => -Infinity,
    add: (acc: number, value: number) => Math.max(acc, requireFiniteNumber('max', value)),
    merge: (a: number, b: number) => Math.max(a, b),
    result: (acc: number) => acc,
  });
}
