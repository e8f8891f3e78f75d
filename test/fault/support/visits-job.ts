/**
 * The job the fault tests run: per-URL visit stats (views, distinct visitors, longest view) with
 * its own reduce, so the shuffle carries raw values from every map to every reduce.
 *
 * It is slow on purpose, as user code may be, so a test can kill something while it runs:
 * - map pauses `mapPauseMs` every 100 records (`slowPauseMs` instead in the worker process whose
 *   pid is `slowPid`: a straggling machine), set per run through params;
 * - reduce always pauses 20 ms every 10 keys (reduce gets no params), about a second per partition.
 * None of this changes what it computes: every run over the same data writes the same view bytes.
 */
import { defineJob } from 'strata';

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => {
  if (ms > 0) Atomics.wait(pause, 0, 0, ms);
};
let mapped = 0;
let reduced = 0;

export default defineJob({
  name: 'visits',
  input: { dataset: 'pageviews' },
  params: { mapPauseMs: 0, slowPid: 0, slowPauseMs: 0 },
  map: (pv: { url: string; visitor: string; durationMs: number }, emit, { params }) => {
    if (++mapped % 100 === 0)
      sleep(Number(process.pid === params.slowPid ? params.slowPauseMs : params.mapPauseMs));
    emit(pv.url, [pv.visitor, pv.durationMs]);
  },
  reduce: (_url, values) => {
    if (++reduced % 10 === 0) sleep(20);
    let maxMs = 0;
    const visitors = new Set<string>();
    for (const [visitor, ms] of values as readonly (readonly [string, number])[]) {
      visitors.add(visitor);
      if (ms > maxMs) maxMs = ms;
    }
    return { views: values.length, visitors: visitors.size, maxMs };
  },
  partitions: 4,
});
