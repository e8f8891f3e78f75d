/**
 * The built-in aggregators by name: how the processes that never run user code (the speed layer's
 * main thread, the view servers) get the merge side of a job's aggregator from its static spec.
 *
 *   const spec = job.staticSpec();                         // { reduce: 'aggregate:topK', aggregateOptions: { k: 10 } }
 *   const agg = builtInAggregator(spec.reduce, spec.aggregateOptions);
 *   agg.result(agg.merge(agg.decode!(a), agg.decode!(b)));
 *
 * What comes back is exact for `identity`, `merge`, `result`, `encode` and `decode`, which depend
 * on the name and options alone. Its `add` is the default one: an aggregator built with a user
 * function (`topK(10, (v) => v.ms)`) scores values with that function, which only runs where the
 * job's map runs (worker threads). A name that is not here is a custom aggregator: a realtime view
 * cannot use it (STRATA_E_REALTIME_JOB at `strata views register`).
 */
import { StrataError } from '../../core/errors.ts';
import type { AnyAggregator } from './aggregator.ts';
import { count } from './count.ts';
import { distinct } from './distinct.ts';
import { mean } from './mean.ts';
import { max, min } from './min-max.ts';
import { sum } from './sum.ts';
import { topK } from './top-k.ts';

/** The options a static spec records for an aggregator (its `options`). */
export type AggregatorOptions = Readonly<Record<string, unknown>>;

type Factory = (options: AggregatorOptions) => AnyAggregator;

const FACTORIES: Readonly<Record<string, Factory>> = Object.freeze({
  count: () => count(),
  sum: () => sum(),
  min: () => min(),
  max: () => max(),
  mean: () => mean(),
  distinct: (o) => distinct(o.precision as number | undefined),
  topK: (o) => topK(o.k as number),
});

/** The names of every built-in aggregator, for messages that list them. */
export const BUILT_IN_AGGREGATORS: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** Strips the static spec's `aggregate:` prefix when present: `aggregate:sum` → `sum`. */
function bareName(name: string): string {
  return name.startsWith('aggregate:') ? name.slice('aggregate:'.length) : name;
}

/** True when `name` (with or without `aggregate:`) is a built-in aggregator. */
export function isBuiltInAggregatorName(name: string): boolean {
  return Object.hasOwn(FACTORIES, bareName(name));
}

/**
 * The built-in aggregator a static spec names, rebuilt from its options. Throws
 * STRATA_E_REALTIME_JOB for a custom aggregator, naming the built-in ones.
 */
export function builtInAggregator(name: string, options: AggregatorOptions = {}): AnyAggregator {
  const bare = bareName(name);
  const factory = Object.hasOwn(FACTORIES, bare) ? FACTORIES[bare] : undefined;
  if (!factory) {
    throw new StrataError(
      'STRATA_E_REALTIME_JOB',
      `the aggregator '${bare}' is not a built-in one, so only a batch job can use it: realtime ` +
        `views merge in processes that never run user code. Use one of ${BUILT_IN_AGGREGATORS.join(', ')}.`,
      { details: { aggregator: bare, builtIn: BUILT_IN_AGGREGATORS } },
    );
  }
  return factory(options);
}
