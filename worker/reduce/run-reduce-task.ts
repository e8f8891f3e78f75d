/**
 * One reduce task: fetch partition p from every map output, merge by key, reduce each key, and
 * stream the view file into the store under the attempt's temporary key.
 *
 *   const { counters } = await runReduceTask(job, task, { store, token });
 *   // task.outputKey ('tmp/jobs/<jobId>/r-<p>-a<attempt>.sv') now holds part <p> of the view
 *
 * fetch (all map outputs at once, each a resumable gRPC stream) → k-way merge by key bytes (stable:
 * map-output order) → group equal keys → aggregate / reduce (reduce-groups.ts) → ViewFileWriter
 * → store.put. The key is attempt-scoped and under tmp/, so it is written with overwrite: a
 * re-run of the same attempt (a stalled task) replaces it, and only the coordinator's commit
 * makes it visible. A fetch failure surfaces as the shuffle client's StrataError naming the map
 * output (see shuffle-source.ts).
 */
import { StrataError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { emptyCounters, type Counters, type ReduceTask } from '../../core/tasks/task-payload.ts';
import { encodeViewFile } from '../../core/viewfile/view-file-writer.ts';
import type { JobDefinition } from '../../jobs/types.ts';
import { groupByKey } from '../group-by-key.ts';
import { kWayMerge } from '../k-way-merge.ts';
import { compareEntries } from '../shuffle-value.ts';
import { reduceGroups } from './reduce-groups.ts';
import { shuffleSource, type ShuffleSourceOptions, type ShuffleStats } from './shuffle-source.ts';

export interface ReduceTaskEnv {
  store: ObjectStore;
  /** The cluster's shuffle token. */
  token: string;
  log?: Logger;
  signal?: AbortSignal;
  fetch?: ShuffleSourceOptions;
}

export interface ReduceTaskOutcome {
  outputKey: string;
  counters: Counters;
}

export async function runReduceTask(
  job: JobDefinition<unknown, unknown, unknown>,
  task: ReduceTask,
  env: ReduceTaskEnv,
): Promise<ReduceTaskOutcome> {
  const started = performance.now();
  if (!task.outputKey.startsWith('tmp/')) {
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `reduce task ${task.taskId} of job ${task.jobId} would write ${task.outputKey}; attempts write under tmp/ only (the coordinator's commit publishes them)`,
    );
  }
  const counters = emptyCounters();
  const stats: ShuffleStats = { bytes: 0, batches: 0, entries: 0 };
  const fetchOptions: ShuffleSourceOptions = {
    ...env.fetch,
    ...(env.signal ? { signal: env.signal } : {}),
  };
  const sources = task.mapOutputs.map((location) =>
    shuffleSource(
      location,
      { jobId: task.jobId, partition: task.partition, token: env.token },
      stats,
      fetchOptions,
    ),
  );
  const groups = groupByKey(kWayMerge(sources, compareEntries));
  let records = 0;
  async function* counted() {
    for await (const entry of reduceGroups(job, groups, {
      accumulators: task.accumulators === true,
    })) {
      records++;
      yield entry;
    }
  }
  // Only what the data determines: a retried attempt, a rerun or another store must write the
  // same bytes. Which job and attempt wrote it is lineage, kept in the version's _MANIFEST.json.
  const metadata = {
    view: job.view,
    job: job.name,
    partition: task.partition,
    ...(task.accumulators ? { values: 'accumulators' } : {}),
  };
  const info = await env.store.put(task.outputKey, encodeViewFile(counted(), { metadata }), {
    overwrite: true,
  });
  counters.recordsIn = stats.entries;
  counters.shuffleBytes = stats.bytes;
  counters.bytesIn = stats.bytes;
  counters.recordsOut = records;
  counters.bytesOut = info.size;
  counters.durationMs = Math.round(performance.now() - started);
  env.log?.debug({ records, bytes: info.size, shuffleBytes: stats.bytes }, 'reduce done');
  return { outputKey: task.outputKey, counters };
}
