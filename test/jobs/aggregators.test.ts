import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  count,
  distinct,
  foldValues,
  isAggregator,
  isStrataError,
  max,
  mean,
  min,
  sum,
  topK,
} from 'strata';
import type { Aggregator } from 'strata';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isStrataError(err) ? err.code : `not a StrataError: ${String(err)}`;
  }
  return undefined;
}

describe('built-in aggregators', () => {
  it('count, sum, min, max and mean give the plain answers', () => {
    const xs = [4, -2, 7.5, 0, 3];
    expect(count().result(foldValues(count(), ['a', null, {}, 1, 1]))).toBe(5);
    expect(sum().result(foldValues(sum(), xs))).toBe(12.5);
    expect(min().result(foldValues(min(), xs))).toBe(-2);
    expect(max().result(foldValues(max(), xs))).toBe(7.5);
    expect(mean().result(foldValues(mean(), xs))).toBe(2.5);
    expect(Number.isNaN(mean().result(mean().identity()))).toBe(true);
  });

  it('numeric aggregators refuse a non-number with STRATA_E_JOB_VALUE instead of concatenating', () => {
    for (const agg of [sum(), min(), max(), mean()] as Array<
      Aggregator<unknown, unknown, unknown>
    >) {
      expect(codeOf(() => agg.add(agg.identity(), '3'))).toBe('STRATA_E_JOB_VALUE');
      expect(codeOf(() => agg.add(agg.identity(), NaN))).toBe('STRATA_E_JOB_VALUE');
    }
    expect(() => sum().add(0, 'x' as unknown as number)).toThrow(
      /sum\(\) adds finite numbers, but the job emitted the string "x"/,
    );
  });

  it('topK keeps the k largest by score, best first, ties broken by the value', () => {
    const agg = topK(3, (v: { url: string; views: number }) => v.views);
    const values = [
      { url: '/b', views: 5 },
      { url: '/a', views: 9 },
      { url: '/d', views: 5 },
      { url: '/c', views: 5 },
      { url: '/e', views: 1 },
    ];
    expect(agg.result(foldValues(agg, values))).toEqual([
      { url: '/a', views: 9 },
      { url: '/b', views: 5 },
      { url: '/c', views: 5 },
    ]);
    expect(topK(2).result(foldValues(topK(2), [3, 1, 4, 1, 5]))).toEqual([5, 4]);
  });

  it('topK agrees with sorting everything and taking the first k', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ id: fc.stringMatching(/^[a-z]{0,2}$/), s: fc.integer({ min: 0, max: 5 }) }),
        ),
        fc.integer({ min: 1, max: 8 }),
        (xs, k) => {
          const agg = topK(k, (v: { id: string; s: number }) => v.s);
          const expected = [...xs]
            .sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
            .slice(0, k);
          expect(agg.result(foldValues(agg, xs))).toEqual(expected);
        },
      ),
    );
  });

  it('rejects bad settings at definition time with STRATA_E_JOB_DEFINITION', () => {
    expect(codeOf(() => topK(0))).toBe('STRATA_E_JOB_DEFINITION');
    expect(codeOf(() => topK(2.5))).toBe('STRATA_E_JOB_DEFINITION');
    expect(codeOf(() => topK(3, 'views' as never))).toBe('STRATA_E_JOB_DEFINITION');
    expect(codeOf(() => distinct(3))).toBe('STRATA_E_JOB_DEFINITION');
    expect(codeOf(() => distinct(19))).toBe('STRATA_E_JOB_DEFINITION');
    expect(codeOf(() => distinct(14))).toBeUndefined();
  });

  it('distinct refuses to merge sketches of different precisions', () => {
    const a = distinct(10);
    const b = distinct(12);
    expect(codeOf(() => a.merge(a.identity(), b.identity()))).toBe('STRATA_E_JOB_VALUE');
    expect(codeOf(() => a.decode!({ p: 12, sparse: [] }))).toBe('STRATA_E_JOB_VALUE');
    expect(codeOf(() => a.decode!({ p: 10 }))).toBe('STRATA_E_JOB_VALUE');
  });

  it('distinct treats 1 and "1" as different values, and a repeated value once', () => {
    const agg = distinct();
    expect(agg.result(foldValues(agg, [1, '1', 1, '1', ['1'], [1, 'x'], [1, 'x']]))).toBe(3);
  });

  it('isAggregator accepts the built-ins and user monoids, and rejects look-alikes', () => {
    for (const agg of [count(), sum(), min(), max(), mean(), distinct(), topK(3)])
      expect(isAggregator(agg)).toBe(true);
    const product = {
      name: 'product',
      identity: () => 1,
      add: (a: number, v: number) => a * v,
      merge: (a: number, b: number) => a * b,
      result: (a: number) => a,
    };
    expect(isAggregator(product)).toBe(true);
    expect(isAggregator({ ...product, merge: undefined })).toBe(false);
    expect(isAggregator({ ...product, encode: (a: number) => a })).toBe(false); // encode without decode
    expect(isAggregator(count)).toBe(false);
  });

  it('the law checks catch an aggregator that is not a monoid', () => {
    // "last value wins" is associative but not commutative, so chunked merging in another order
    // differs
    const last: Aggregator<number, number | null, number | null> = {
      name: 'last',
      identity: () => null,
      add: (_a, v) => v,
      merge: (a, b) => b ?? a,
      result: (a) => a,
    };
    const details = fc.check(
      fc.property(
        fc.array(fc.integer()),
        fc.array(fc.integer()),
        (a, b) =>
          last.merge(foldValues(last, a), foldValues(last, b)) ===
          last.merge(foldValues(last, b), foldValues(last, a)),
      ),
    );
    expect(details.failed).toBe(true);
  });
});
