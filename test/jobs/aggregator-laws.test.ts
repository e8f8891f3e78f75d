/**
 * The monoid laws every aggregator promises, checked with fast-check: what the map-side combiner,
 * the reduce-side merge and the speed layer's realtime buckets rely on.
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  count,
  decodeAccumulator,
  distinct,
  encodeAccumulator,
  foldValues,
  max,
  mean,
  min,
  sum,
  topK,
} from 'strata';
import type { Aggregator } from 'strata';

interface Case {
  name: string;
  agg: Aggregator<any, any, any>;
  value: fc.Arbitrary<unknown>;
}

const item = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
  n: fc.integer({ min: 0, max: 3 }),
});
const distinctValue = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.string({ maxLength: 3 }),
  fc.tuple(fc.constantFrom('x', 'y'), fc.integer({ min: 0, max: 5 })),
);

const cases: Case[] = [
  { name: 'count()', agg: count(), value: fc.anything() },
  { name: 'sum()', agg: sum(), value: fc.integer({ min: -1e9, max: 1e9 }) },
  { name: 'min()', agg: min(), value: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { name: 'max()', agg: max(), value: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { name: 'mean()', agg: mean(), value: fc.integer({ min: -1e6, max: 1e6 }) },
  { name: 'topK(3) of numbers', agg: topK(3), value: fc.integer({ min: -20, max: 20 }) },
  // few distinct scores and ids, so ties (and exact duplicates) are common
  { name: 'topK(4, by) of records', agg: topK(4, (v: { n: number }) => v.n), value: item },
  { name: 'distinct(4) (dense after 16 values)', agg: distinct(4), value: distinctValue },
  { name: 'distinct(8)', agg: distinct(8), value: distinctValue },
  { name: 'distinct() sparse', agg: distinct(), value: fc.string({ maxLength: 4 }) },
];

/** An accumulator as plain data, to compare two of them exactly. */
function snapshot(agg: Aggregator<any, any, any>, acc: unknown): unknown {
  return unpack(pack(encodeAccumulator(agg, acc)));
}

/** Splits `values` at the given cut points into consecutive chunks (some possibly empty). */
function chunk<T>(values: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (values.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let start = 0;
  for (const p of [...points, values.length]) {
    out.push(values.slice(start, p));
    start = p;
  }
  return out;
}

describe.each(cases)('$name', ({ agg, value }) => {
  const values = fc.array(value, { maxLength: 60 });
  const fold = (xs: unknown[]): unknown => foldValues(agg, xs);

  it('has an identity that is neutral for merge on both sides', () => {
    fc.assert(
      fc.property(values, (xs) => {
        const expected = snapshot(agg, fold(xs));
        expect(snapshot(agg, agg.merge(agg.identity(), fold(xs)))).toEqual(expected);
        expect(snapshot(agg, agg.merge(fold(xs), agg.identity()))).toEqual(expected);
      }),
    );
  });

  it('merges associatively', () => {
    fc.assert(
      fc.property(values, values, values, (a, b, c) => {
        const left = agg.merge(agg.merge(fold(a), fold(b)), fold(c));
        const right = agg.merge(fold(a), agg.merge(fold(b), fold(c)));
        expect(snapshot(agg, left)).toEqual(snapshot(agg, right));
      }),
    );
  });

  it('merges commutatively', () => {
    fc.assert(
      fc.property(values, values, (a, b) => {
        expect(snapshot(agg, agg.merge(fold(a), fold(b)))).toEqual(
          snapshot(agg, agg.merge(fold(b), fold(a))),
        );
      }),
    );
  });

  it('gives the same accumulator for any chunking, any merge order and any value order', () => {
    fc.assert(
      fc.property(
        values,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.infiniteStream(fc.nat()),
        (xs, cuts, choices) => {
          const whole = snapshot(agg, fold(xs));
          // Each chunk is folded alone, crosses a boundary as msgpack, then the partial results are
          // merged pairwise in a random order, as splits, spills and realtime buckets are.
          let parts = chunk(xs, cuts).map((part) =>
            decodeAccumulator(agg, unpack(pack(encodeAccumulator(agg, fold(part))))),
          );
          const pick = choices[Symbol.iterator]();
          while (parts.length > 1) {
            const i = pick.next().value! % parts.length;
            const [a] = parts.splice(i, 1);
            const j = pick.next().value! % parts.length;
            parts[j] =
              pick.next().value! % 2 === 0 ? agg.merge(a, parts[j]) : agg.merge(parts[j], a);
          }
          expect(snapshot(agg, parts[0] ?? agg.identity())).toEqual(whole);
          expect(snapshot(agg, fold([...xs].reverse()))).toEqual(whole);
        },
      ),
    );
  });

  it('never modifies the second argument of merge', () => {
    fc.assert(
      fc.property(values, values, (a, b) => {
        const right = fold(b);
        const before = snapshot(agg, right);
        agg.merge(fold(a), right);
        expect(snapshot(agg, right)).toEqual(before);
      }),
    );
  });

  it('survives msgpack and structuredClone with the same result', () => {
    fc.assert(
      fc.property(values, (xs) => {
        const acc = fold(xs);
        const expected = agg.result(fold(xs));
        expect(
          agg.result(decodeAccumulator(agg, unpack(pack(encodeAccumulator(agg, acc))))),
        ).toEqual(expected);
        expect(
          agg.result(decodeAccumulator(agg, structuredClone(encodeAccumulator(agg, acc)))),
        ).toEqual(expected);
      }),
    );
  });
});
