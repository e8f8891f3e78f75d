/**
 * A map task's in-memory output: one slot per distinct key, combined as values arrive, with an
 * honest estimate of the heap it holds, drained as sorted shuffle entries at each spill.
 *
 *   const buffer = new MapBuffer(shuffleCombiner(job, errors), partitions);
 *   buffer.add(encodeKey(['/a', 13]), '/a', 1, where);
 *   if (buffer.bytes >= memoryBudgetBytes) await writeRunFile(path, buffer.drainEntries(), { partitions });
 *
 * Keys are held as latin1 strings of their encoded bytes: a Map lookup per emit, and sorting with
 * `<` on such strings is exactly unsigned byte order. A key's partition is computed once, when the
 * key is first seen. Aggregate states are re-measured when a key's count of adds reaches a power
 * of two, so a growing accumulator (a sketch, a top-k list) is accounted for within a factor of two
 * at no per-add cost.
 */
import { keyBytes, keyId, type KeyPart } from '../../core/keys/key-codec.ts';
import { partitionOfRow } from '../../core/keys/partition.ts';
import type { RunEntry, ShuffleEntry } from '../shuffle/run-file.ts';
import { approxBytes } from './approx-bytes.ts';
import type { ShuffleCombiner, Where } from './shuffle-combiner.ts';

interface Slot {
  id: string;
  partition: number;
  state: unknown;
  adds: number;
  stateBytes: number;
}

/**
 * Heap per distinct key besides its state: the Map entry, the slot object and the key string's
 * header.
 */
export const SLOT_OVERHEAD_BYTES = 128;

export class MapBuffer {
  readonly #slots = new Map<string, Slot>();
  readonly #combiner: ShuffleCombiner;
  readonly #partitions: number;
  #bytes = 0;

  constructor(combiner: ShuffleCombiner, partitions: number) {
    this.#combiner = combiner;
    this.#partitions = partitions;
  }

  /** Estimated heap bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Distinct keys held. */
  get keys(): number {
    return this.#slots.size;
  }

  /** Takes one emitted value; `row` is the key's first element (it picks the partition). */
  add(key: Uint8Array, row: KeyPart, value: unknown, where: Where): void {
    const id = keyId(key);
    const slot = this.#slots.get(id);
    const c = this.#combiner;
    if (slot === undefined) {
      const state = c.first(value, key, where);
      const stateBytes = c.stateBytes(state);
      this.#slots.set(id, {
        id,
        partition: partitionOfRow(row, this.#partitions),
        state,
        adds: 1,
        stateBytes,
      });
      this.#bytes += SLOT_OVERHEAD_BYTES + id.length + stateBytes;
      return;
    }
    slot.state = c.add(slot.state, value, key, where);
    const adds = ++slot.adds;
    if (c.kind !== 'aggregate') {
      const more = 8 + approxBytes(value);
      slot.stateBytes += more;
      this.#bytes += more;
    } else if ((adds & (adds - 1)) === 0) {
      const now = c.stateBytes(slot.state);
      this.#bytes += now - slot.stateBytes;
      slot.stateBytes = now;
    }
  }

  /**
   * Empties the buffer into sorted, encoded entries: `result[p]` holds partition p's entries in
   * ascending key order (a key repeats only when a long list was cut into several entries).
   */
  drain(): ShuffleEntry[][] {
    const byPartition: Slot[][] = Array.from({ length: this.#partitions }, () => []);
    for (const slot of this.#slots.values()) byPartition[slot.partition]!.push(slot);
    this.#slots.clear();
    this.#bytes = 0;
    const c = this.#combiner;
    return byPartition.map((slots) => {
      slots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const entries: ShuffleEntry[] = [];
      for (const slot of slots) {
        const bytes = keyBytes(slot.id);
        for (const value of c.encode(bytes, slot.state)) entries.push([bytes, value]);
        slot.state = undefined; // let a big state go as soon as it is encoded
      }
      return entries;
    });
  }
}

/** Partition-major entries for writeRunFile. */
export function* runEntries(partitions: ShuffleEntry[][]): Generator<RunEntry> {
  for (let p = 0; p < partitions.length; p++)
    for (const [key, value] of partitions[p]!) yield [p, key, value];
}
