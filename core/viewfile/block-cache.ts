/**
 * A least-recently-used cache of data blocks, bounded by bytes, shareable by many readers.
 *
 *   const cache = new BlockCache(32 * 1024 * 1024);         // one budget for every open part file
 *   const a = await ViewFileReader.open(sourceA, { cache });
 *   const b = await ViewFileReader.open(sourceB, { cache });
 *
 * A view server holds one reader per partition of every loaded version; a shared budget keeps
 * memory flat however many files are open. A Map iterates in insertion order, so re-inserting on
 * every hit makes its first entry the least recently used one.
 *
 * The cache copies each block it keeps into a buffer of its own, and an evicted block's buffer
 * (with its entry) holds the next block kept. Under random lookups over a view many times the
 * budget, nearly every lookup evicts one block and keeps another; with fresh buffers and entries,
 * the evicted ones (old enough to have left V8's young generation) would pile up as garbage until
 * a full collection: tens of MiB of RSS beyond the budget, and the collector's time. A block from
 * get() is a view of the cache's buffer that the next set() may reuse: search it before anything
 * else can run (no await between), or take a copy (DataBlock.copy).
 */

import { DataBlock } from './view-block.ts';

// Entries are keyed by one number: reader id × 2^24 + block number (a file has far fewer than
// 16M blocks; readers get ids from a counter, far below 2^29).
const BLOCKS_PER_OWNER = 2 ** 24;
/** Bytes counted per entry beyond its buffer (the Map entry and the block object). */
const ENTRY_OVERHEAD = 160;
/** Buffers are sized in steps of this, so blocks of nearly equal size share them. */
const BUFFER_STEP = 1024;
/** Evicted buffers kept for reuse beyond the ones the next set() takes. */
const MAX_SPARE = 8;

interface Entry {
  /** The cache's own buffer; its length is what the budget counts. */
  buffer: Uint8Array;
  byteLength: number;
  count: number;
  source: string;
  what: string;
}

export class BlockCache {
  private readonly entries = new Map<number, Entry>();
  private readonly spare: Entry[] = [];
  private used = 0;
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  constructor(readonly maxBytes: number) {}

  /** Bytes held by cached blocks (their buffers), within maxBytes; up to MAX_SPARE evicted buffers wait beside them. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached block, a view valid until the next set(): search it at once or copy it. */
  get(owner: number, block: number): DataBlock | undefined {
    const id = owner * BLOCKS_PER_OWNER + block;
    const e = this.entries.get(id);
    if (e === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.entries.delete(id);
    this.entries.set(id, e);
    return new DataBlock(e.buffer, e.count, e.source, e.what, e.byteLength);
  }

  /** Keeps a copy of `value` (the caller's block stays the caller's), evicting the least recently used. */
  set(owner: number, block: number, value: DataBlock): void {
    const need = value.byteLength;
    const capacity = Math.ceil(need / BUFFER_STEP) * BUFFER_STEP;
    if (capacity + ENTRY_OVERHEAD > this.maxBytes) return;
    const id = owner * BLOCKS_PER_OWNER + block;
    const old = this.entries.get(id);
    if (old) this.remove(id, old);
    this.evictUntil(capacity);
    let e = this.takeSpare(need, capacity);
    if (e) this.evictUntil(e.buffer.length); // a spare may be a little larger than asked
    else e = { buffer: new Uint8Array(capacity), byteLength: 0, count: 0, source: '', what: '' };
    value.copyTo(e.buffer);
    e.byteLength = need;
    e.count = value.count;
    e.source = value.source;
    e.what = value.what;
    this.entries.set(id, e);
    this.used += e.buffer.length + ENTRY_OVERHEAD;
  }

  /** Forgets every block of one reader (called when it closes); their memory goes back to the runtime. */
  drop(owner: number): void {
    for (const [key, e] of this.entries) {
      if (Math.floor(key / BLOCKS_PER_OWNER) === owner) {
        this.entries.delete(key);
        this.used -= e.buffer.length + ENTRY_OVERHEAD;
      }
    }
    this.spare.length = 0;
  }

  /** Evicts the least recently used blocks until `bytes` more fit. */
  private evictUntil(bytes: number): void {
    while (this.used + bytes + ENTRY_OVERHEAD > this.maxBytes && this.entries.size > 0) {
      const key = this.entries.keys().next().value as number;
      this.remove(key, this.entries.get(key)!);
      this.stats.evictions++;
    }
  }

  private remove(key: number, e: Entry): void {
    this.entries.delete(key);
    this.used -= e.buffer.length + ENTRY_OVERHEAD;
    this.spare.push(e);
    if (this.spare.length > MAX_SPARE) this.spare.shift();
  }

  /** A spare entry whose buffer fits `need` bytes without wasting more than a quarter of itself. */
  private takeSpare(need: number, capacity: number): Entry | undefined {
    const spare = this.spare;
    for (let i = spare.length - 1; i >= 0; i--) {
      const e = spare[i]!;
      if (e.buffer.length >= need && e.buffer.length <= capacity + (capacity >>> 2)) {
        spare[i] = spare[spare.length - 1]!;
        spare.pop();
        return e;
      }
    }
    return undefined;
  }
}
