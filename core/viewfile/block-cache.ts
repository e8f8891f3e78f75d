/**
 * A least-recently-used cache of parsed blocks, bounded by bytes, shareable by many readers.
 *
 *   const cache = new BlockCache(64 * 1024 * 1024);         // one budget for every open part file
 *   const a = await ViewFileReader.open(sourceA, { cache });
 *   const b = await ViewFileReader.open(sourceB, { cache });
 *
 * A view server holds one reader per partition of every loaded version; a shared budget keeps
 * memory flat however many files are open. A Map iterates in insertion order, so re-inserting on
 * every hit makes its first entry the least recently used one.
 */

import type { DataBlock } from './view-block.ts';

// Entries are keyed by one number: reader id × 2^24 + block number (a file has far fewer than
// 16M blocks; readers get ids from a counter, far below 2^29).
const BLOCKS_PER_OWNER = 2 ** 24;

export class BlockCache {
  private readonly entries = new Map<number, DataBlock>();
  private used = 0;
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  get(owner: number, block: number): DataBlock | undefined {
    const id = owner * BLOCKS_PER_OWNER + block;
    const hit = this.entries.get(id);
    if (hit === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.entries.delete(id);
    this.entries.set(id, hit);
    return hit;
  }

  set(owner: number, block: number, value: DataBlock): void {
    if (value.bytes > this.maxBytes) return;
    const id = owner * BLOCKS_PER_OWNER + block;
    const old = this.entries.get(id);
    if (old) {
      this.used -= old.bytes;
      this.entries.delete(id);
    }
    this.entries.set(id, value);
    this.used += value.bytes;
    for (const [key, v] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(key);
      this.used -= v.bytes;
      this.stats.evictions++;
    }
  }

  /** Forgets every block of one reader (called when it closes). */
  drop(owner: number): void {
    for (const [key, v] of this.entries) {
      if (Math.floor(key / BLOCKS_PER_OWNER) === owner) {
        this.entries.delete(key);
        this.used -= v.bytes;
      }
    }
  }
}
