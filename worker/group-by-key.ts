/**
 * Runs of equal keys in a sorted entry stream, as groups: the step between the k-way merge and
 * whatever combines or reduces a key's values.
 *
 *   for await (const groups of groupByKey(kWayMerge(sources, compareEntries)))
 *     for (const { key, values } of groups) …;   // values in merge order
 *
 * A group may span input batches; it is handed on once the next key (or the end) shows it is
 * complete. Each output array holds the groups completed by one input batch.
 */
import type { ShuffleEntry } from './shuffle/run-file.ts';

export interface KeyGroup {
  key: Uint8Array;
  values: Uint8Array[];
}

export async function* groupByKey(
  batches: AsyncIterable<readonly ShuffleEntry[]>,
): AsyncGenerator<KeyGroup[]> {
  let open: KeyGroup | undefined;
  for await (const batch of batches) {
    const done: KeyGroup[] = [];
    for (const [key, value] of batch) {
      if (open !== undefined && Buffer.compare(open.key, key) === 0) {
        open.values.push(value);
      } else {
        if (open !== undefined) done.push(open);
        open = { key, values: [value] };
      }
    }
    if (done.length > 0) yield done;
  }
  if (open !== undefined) yield [open];
}
