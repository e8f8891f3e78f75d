/**
 * distinct()'s promised error bounds on random sets: exact while sparse, and within 3 standard
 * errors (3 × 1.04 / sqrt(2^p)) of the true cardinality once dense.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distinct } from 'strata';
import type { Aggregator } from 'strata';
import type { DistinctAcc } from '../../jobs/aggregators/distinct.ts';

// A 3-sigma bound fails ~0.3% of random trials by design; a fixed seed keeps CI from flaking
// while the sets stay arbitrary (change the seed to explore other sets).
const STATISTICAL_SEED = 20_261_122;

function estimate(
  agg: Aggregator<string | number, DistinctAcc, number>,
  n: number,
  salt: number,
  repeats = 1,
): number {
  let acc = agg.identity();
  for (let r = 0; r < repeats; r++)
    for (let i = 0; i < n; i++) acc = agg.add(acc, `visitor-${salt}-${i}`);
  return agg.result(acc);
}

describe('distinct() accuracy', () => {
  it('is exact for small sets, whatever the duplicates', () => {
    const agg = distinct();
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 1500 }),
        (xs) => {
          const truth = new Set(xs.map((x) => `${typeof x}:${x}`)).size;
          let acc = agg.identity();
          for (const x of xs) acc = agg.add(acc, x);
          if (truth <= 1024) expect(agg.result(acc)).toBe(truth);
          else expect(Math.abs(agg.result(acc) - truth)).toBeLessThanOrEqual(3 * 0.0081 * truth);
        },
      ),
      { numRuns: 40, seed: STATISTICAL_SEED },
    );
    expect(agg.result(agg.identity())).toBe(0);
    expect(estimate(agg, 1024, 1, 3)).toBe(1024);
  });

  it('stays within 3 standard errors on random sets of 1k to 200k values (p = 14)', () => {
    const agg = distinct();
    const bound = 3 * (1.04 / Math.sqrt(2 ** 14));
    // Sizes across the whole range, including the small-range transition near 2.5 · 2^14.
    const sizes = [1_000, 2_000, 5_000, 12_000, 30_000, 41_000, 60_000, 90_000, 200_000];
    for (const [i, n] of sizes.entries()) {
      const est = estimate(agg, n, 1000 + i);
      expect(Math.abs(est - n) / n, `n=${n} estimate=${est}`).toBeLessThanOrEqual(bound);
    }
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 200_000 }), fc.integer(), (n, salt) => {
        const est = estimate(agg, n, salt);
        expect(Math.abs(est - n) / n).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 6, seed: STATISTICAL_SEED },
    );
  });

  it('stays within 3 standard errors at lower precisions, and duplicates do not count', () => {
    for (const p of [8, 10, 12]) {
      const agg = distinct(p);
      const bound = 3 * (1.04 / Math.sqrt(2 ** p));
      for (const n of [3_000, 20_000, 100_000]) {
        const est = estimate(agg, n, p * 7 + n, p === 12 ? 2 : 1);
        expect(Math.abs(est - n) / n, `p=${p} n=${n} estimate=${est}`).toBeLessThanOrEqual(bound);
      }
    }
  });
});
