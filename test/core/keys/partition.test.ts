import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import type { Key, KeyPart } from '../../../core/keys/key-codec.ts';
import { partitionOf, partitionOfRow } from '../../../core/keys/partition.ts';

const partArb: fc.Arbitrary<KeyPart> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isStrataError(err) ? err.code : String(err);
  }
  return undefined;
}

describe('partitionOf', () => {
  it('depends only on the first element and is in range', () => {
    fc.assert(
      fc.property(
        partArb,
        fc.array(partArb, { maxLength: 3 }),
        fc.array(partArb, { maxLength: 3 }),
        fc.integer({ min: 1, max: 4096 }),
        (row, restA, restB, n) => {
          const p = partitionOf([row, ...restA], n);
          expect(p).toBe(partitionOf([row, ...restB], n));
          expect(p).toBe(partitionOfRow(row, n));
          expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
    expect(partitionOf([-0, 'a'], 97)).toBe(partitionOf([0, 'b'], 97));
  });

  it('spreads 100k urls over 8 partitions within 3% of even', () => {
    const counts = new Array<number>(8).fill(0);
    const sections = ['blog', 'docs', 'shop', 'news', 'p'];
    for (let i = 0; i < 100_000; i++) {
      const url = `https://site${i % 131}.example.com/${sections[i % 5]}/${Math.floor(i / 655)}/item-${i}?ref=${i % 7}`;
      counts[partitionOf([url, i % 24], 8)]!++;
    }
    for (const c of counts) expect(Math.abs(c - 12_500) / 12_500).toBeLessThan(0.03);
    // Also a chi-square test at 7 degrees of freedom (p = 0.001 critical value 24.3).
    const chi2 = counts.reduce((s, c) => s + (c - 12_500) ** 2 / 12_500, 0);
    expect(chi2).toBeLessThan(24.3);
  });

  it('gives the same answers in every process and release (pinned values)', () => {
    // These decide which part-<r>.sv file holds a key in every view already written: if this test
    // fails, the change would silently misroute lookups into existing views.
    const pinned: Array<[Key, number, number]> = [
      [['/home'], 8, 7],
      [['https://example.com/a'], 8, 1],
      [[42], 8, 7],
      [[-1.5], 8, 5],
      [[''], 8, 7],
      [['\0'], 8, 6],
      [['😀'], 8, 7],
      [['/home'], 16, 15],
      [['https://example.com/a'], 16, 2],
      [['/home'], 1000, 994],
      [[42], 1000, 898],
    ];
    for (const [key, n, expected] of pinned)
      expect(partitionOf(key, n), `${JSON.stringify(key)} over ${n}`).toBe(expected);
  });

  it('rejects a bad key with STRATA_E_KEY_INVALID and a bad partition count with STRATA_E_USAGE', () => {
    expect(codeOf(() => partitionOf([], 8))).toBe('STRATA_E_KEY_INVALID');
    expect(codeOf(() => partitionOf([Number.NaN, 'x'], 8))).toBe('STRATA_E_KEY_INVALID');
    expect(codeOf(() => partitionOf(['a'], 0))).toBe('STRATA_E_USAGE');
    expect(codeOf(() => partitionOf(['a'], 2.5))).toBe('STRATA_E_USAGE');
    expect(codeOf(() => partitionOf(['a'], 1 << 20))).toBe('STRATA_E_USAGE');
  });
});
