/**
 * `topK(k, by?)`: the k largest values emitted for a key, by a numeric score (the value itself
 * when `by` is omitted), largest first.
 *
 *   // the 10 slowest page loads per url, as whole records
 *   defineJob({ name: 'slowest-loads', input: { dataset: 'pageviews' },
 *     map: (r, emit) => emit(r.url, { visitor: r.visitor, ms: r.durationMs }),
 *     aggregate: topK(10, (v) => v.ms) });
 *
 * Error bound: exact. Values with equal scores are ordered by a canonical form of the value
 * (JSON with sorted object keys), so the kept set and its order are a function of the multiset of
 * values alone: merge is exactly associative and commutative, whatever the splits. Values must be
 * plain data (numbers, strings, booleans, null, arrays, plain objects).
 */
import { StrataError } from '../../core/errors.ts';
import type { Aggregator } from './aggregator.ts';
import { requireFiniteNumber } from './require-number.ts';

/** Kept entries, best first: `[score, value]`. */
export type TopKAcc<T> = Array<[number, T]>;

export const TOP_K_MAX = 100_000;

export function topK(k: number): Aggregator<number, TopKAcc<number>, number[]>;
export function topK<T>(k: number, by: (value: T) => number): Aggregator<T, TopKAcc<T>, T[]>;
export function topK<T>(k: number, by?: (value: T) => number): Aggregator<T, TopKAcc<T>, T[]> {
  if (!Number.isInteger(k) || k < 1 || k > TOP_K_MAX) {
    throw new StrataError(
      'STRATA_E_JOB_DEFINITION',
      `topK(k) needs an integer k from 1 to ${TOP_K_MAX}; got ${String(k)}. Example: aggregate: topK(10, (v) => v.score)`,
      { details: { k } },
    );
  }
  if (by !== undefined && typeof by !== 'function') {
    throw new StrataError(
      'STRATA_E_JOB_DEFINITION',
      `topK(k, by): by must be a function from a value to its numeric score; got ${typeof by}. Example: topK(10, (v) => v.views)`,
    );
  }
  const score = (value: T): number => requireFiniteNumber('topK', by ? by(value) : value);

  function insert(acc: TopKAcc<T>, entry: [number, T]): TopKAcc<T> {
    if (acc.length === k && compareEntries(entry, acc[k - 1]!) >= 0) return acc;
    let lo = 0;
    let hi = acc.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEntries(acc[mid]!, entry) <= 0) lo = mid + 1;
      else hi = mid;
    }
    acc.splice(lo, 0, entry);
    if (acc.length > k) acc.length = k;
    return acc;
  }

  return Object.freeze({
    name: 'topK',
    options: Object.freeze({ k }),
    identity: (): TopKAcc<T> => [],
    add(acc: TopKAcc<T>, value: T): TopKAcc<T> {
      const s = score(value);
      return insert(acc, [s, by ? value : (s as T)]);
    },
    merge(a: TopKAcc<T>, b: TopKAcc<T>): TopKAcc<T> {
      const out: TopKAcc<T> = [];
      let i = 0;
      let j = 0;
      while (out.length < k && (i < a.length || j < b.length)) {
        if (j >= b.length || (i < a.length && compareEntries(a[i]!, b[j]!) <= 0)) out.push(a[i++]!);
        else out.push(b[j++]!);
      }
      return out;
    },
    result: (acc: TopKAcc<T>) => acc.map((e) => e[1]),
    encode: (acc: TopKAcc<T>) => acc.map((e) => [e[0], e[1]]),
    decode: (encoded: unknown) =>
      (encoded as Array<[number, T]>).map((e): [number, T] => [Number(e[0]), e[1]]),
  });
}

/** Best first: higher score, then the smaller canonical form. Zero only for equal values. */
function compareEntries<T>(a: [number, T], b: [number, T]): number {
  if (a[0] !== b[0]) return a[0] > b[0] ? -1 : 1;
  if (a[1] === b[1]) return 0;
  const ca = canonicalString(a[1]);
  const cb = canonicalString(b[1]);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}

/** JSON with object keys sorted, so equal data gives an equal string whatever its key order. */
export function canonicalString(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'undefined';
    if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
    if (typeof value === 'bigint') return `${value}n`;
    return JSON.stringify(value) ?? String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalString).join(',')}]`;
  if (value instanceof Uint8Array)
    return `bin:${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalString(obj[key])}`)
    .join(',')}}`;
}
