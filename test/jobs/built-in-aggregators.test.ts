import { describe, expect, it } from 'vitest';
import { count, defineJob, distinct, foldValues, isStrataError, mean, sum, topK } from 'strata';
import type { AnyAggregator } from 'strata';
import {
  BUILT_IN_AGGREGATORS,
  builtInAggregator,
  isBuiltInAggregatorName,
} from '../../jobs/aggregators/built-in.ts';

/** Folds halves with `fromJob`, merges them with `byName` after an encode/decode round trip. */
function mergedByName(fromJob: AnyAggregator, byName: AnyAggregator, values: unknown[]): unknown {
  const half = Math.floor(values.length / 2);
  const enc = (acc: unknown) => (fromJob.encode ? fromJob.encode(acc) : acc);
  const dec = (e: unknown) => (byName.decode ? byName.decode(e) : e);
  const a = dec(enc(foldValues(fromJob, values.slice(0, half))));
  const b = dec(enc(foldValues(fromJob, values.slice(half))));
  return byName.result(byName.merge(a, b));
}

describe('built-in aggregators by name', () => {
  it("rebuilds each one from its static spec, merging to the same answer as the job's own", () => {
    const numbers = [5, 1, 9, 3, 3, 7, 2];
    const cases: Array<[AnyAggregator, unknown[]]> = [
      [count(), numbers],
      [sum(), numbers],
      [mean(), numbers],
      [distinct(10), ['a', 'b', 'a', 'c']],
      [topK(3), numbers],
      [topK(2, (v: { ms: number }) => v.ms), [{ ms: 3 }, { ms: 9 }, { ms: 1 }, { ms: 5 }]],
    ];
    for (const [agg, values] of cases) {
      const spec = defineJob({
        name: 'j',
        input: { dataset: 'd' },
        map: () => {},
        aggregate: agg,
      }).staticSpec();
      const byName = builtInAggregator(spec.reduce, spec.aggregateOptions);
      expect(byName.name).toBe(agg.name);
      expect(mergedByName(agg, byName, values)).toEqual(agg.result(foldValues(agg, values)));
    }
  });

  it('refuses a custom aggregator with STRATA_E_REALTIME_JOB naming the built-in ones', () => {
    expect(isBuiltInAggregatorName('aggregate:sum')).toBe(true);
    expect(isBuiltInAggregatorName('aggregate:myMedian')).toBe(false);
    expect(isBuiltInAggregatorName('constructor')).toBe(false);
    try {
      builtInAggregator('aggregate:myMedian');
      expect.unreachable();
    } catch (err) {
      expect(isStrataError(err) && err.code).toBe('STRATA_E_REALTIME_JOB');
      expect(String(err)).toContain('myMedian');
      for (const name of BUILT_IN_AGGREGATORS) expect(String(err)).toContain(name);
    }
  });
});
