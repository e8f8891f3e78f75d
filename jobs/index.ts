/**
 * Strata's job API: what a job module imports as `'strata'`.
 *
 *   // jobs/top-pages.ts — views per url and hour, for June 2024
 *   import { defineJob, count, runLocal } from 'strata';
 *
 *   interface PageView { url: string; time: string }
 *
 *   const job = defineJob({
 *     name: 'top-pages',
 *     input: { dataset: 'pageviews', from: '2024-06-01', to: '2024-06-30' },
 *     map: (r: PageView, emit) => emit([r.url, r.time.slice(0, 13)], 1),
 *     aggregate: count(),          // or: reduce: (key, values) => values.length
 *     partitions: 16,
 *   });
 *   export default job;
 *
 *   // in a test:
 *   await runLocal(job, [{ url: '/a', time: '2024-06-01T10:00:00Z' }]);
 *   // → [[['/a', '2024-06-01T10'], 1]]
 *
 * `strata submit top-pages.ts` bundles the module and runs it on the cluster; the view
 * `top-pages` then answers `get(['/a', '2024-06-01T10'])` and range scans by url.
 * This module and everything it imports is pure (no runtime, no I/O), so job code and its
 * type checks stay light and load in worker threads.
 */
export { defineJob, isJobDefinition, DEFAULT_PARTITIONS, MAX_PARTITIONS } from './define-job.ts';
export { runLocal, localView } from './run-local.ts';
export type { RunLocalOptions, LocalRow, LocalView } from './run-local.ts';
export { count } from './aggregators/count.ts';
export { sum } from './aggregators/sum.ts';
export { min, max } from './aggregators/min-max.ts';
export { mean } from './aggregators/mean.ts';
export type { MeanAcc } from './aggregators/mean.ts';
export { distinct, DISTINCT_DEFAULT_PRECISION } from './aggregators/distinct.ts';
export type { DistinctAcc } from './aggregators/distinct.ts';
export { topK } from './aggregators/top-k.ts';
export type { TopKAcc } from './aggregators/top-k.ts';
export {
  isAggregator,
  encodeAccumulator,
  decodeAccumulator,
  foldValues,
} from './aggregators/aggregator.ts';
export type {
  Aggregator,
  AnyAggregator,
  AggregatorInput,
  AggregatorOutput,
} from './aggregators/aggregator.ts';
export type {
  Key,
  KeyPart,
  Emit,
  MapFn,
  CombineFn,
  ReduceFn,
  JobContext,
  JobInput,
  JobParams,
  ParamValue,
  JobSpec,
  ReduceJobSpec,
  AggregateJobSpec,
  JobDefinition,
  StaticJobSpec,
} from './types.ts';
export { StrataError, isStrataError } from '../core/errors.ts';
