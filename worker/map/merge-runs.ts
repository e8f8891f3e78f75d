/**
 * The last step of a map task that spilled: its sorted runs (spill files and what is still in
 * memory) merged partition by partition into one sorted, combined stream for the map output.
 *
 *   const runs = [await openRunFile(spill0), await openRunFile(spill1)];
 *   await writeRunFile(outputPath, mergeRuns(runs, buffer.drain(), combiner, partitions), { partitions });
 *
 * Sources are merged in spill order with the in-memory rest last (a stable merge), and equal keys
 * are joined by the combiner, so the output equals what one unlimited buffer would have given.
 */
import { groupByKey } from '../group-by-key.ts';
import { kWayMerge, type BatchSource } from '../k-way-merge.ts';
import type { RunEntry, RunFileReader, ShuffleEntry } from '../shuffle/run-file.ts';
import { compareEntries } from '../shuffle-value.ts';
import type { ShuffleCombiner } from './shuffle-combiner.ts';

export async function* mergeRuns(
  runs: readonly RunFileReader[],
  memory: ShuffleEntry[][] | undefined,
  combiner: ShuffleCombiner,
  partitions: number,
): AsyncGenerator<RunEntry> {
  for (let p = 0; p < partitions; p++) {
    const sources: BatchSource<ShuffleEntry>[] = runs.map((run) => run.entries(p));
    if (memory?.[p]?.length) sources.push([memory[p]!]);
    for await (const groups of groupByKey(kWayMerge(sources, compareEntries))) {
      for (const { key, values } of groups)
        for (const value of combiner.merge(key, values)) yield [p, key, value];
    }
  }
}
