/**
 * How a value travels the shuffle: msgpack, the same encoding on the map side (spills and map
 * outputs) and the reduce side.
 *
 *   const bytes = packValue([1, 2, 3]);     // a list of emitted values (reduce jobs)
 *   unpackValue(bytes);                      // [1, 2, 3]
 *
 * What a value is depends on the job (see map/shuffle-combiner.ts): an encoded accumulator for
 * an aggregate job, a list of emitted values for a reduce job. Plain data only
 * (jobs/plain-value.ts):
 * Date and Uint8Array survive (a Uint8Array comes back as a Buffer, which is one).
 */
import { Packr, Unpackr } from 'msgpackr';
import type { ShuffleEntry } from './shuffle/run-file.ts';

// No record structures: every value must decode on its own, in any thread or process.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** Shuffle entries ascend by the unsigned bytes of their keys. */
export function compareEntries(a: ShuffleEntry, b: ShuffleEntry): number {
  return Buffer.compare(a[0], b[0]);
}
