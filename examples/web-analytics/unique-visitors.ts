/**
 * Distinct visitors per URL over the whole dataset, as a HyperLogLog sketch (distinct(): exact up
 * to 1,024 visitors per URL, then ~0.8% standard error).
 *
 *   strata submit examples/web-analytics/unique-visitors.ts
 */
import { defineJob, distinct } from 'strata';

export default defineJob({
  name: 'unique-visitors',
  input: { dataset: 'pageviews' },
  map: (pv: { url: string; visitor: string }, emit) => emit(pv.url, pv.visitor),
  aggregate: distinct(),
});
