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
 * A block is kept only when it is offered a second time while its id is still in a short memory
 * of recently offered blocks (a "doorkeeper", as in 2Q and TinyLFU). Under lookups spread evenly
 * over a view many times the budget, nearly every block kept would be evicted before its next
 * use: copying it in cost more than the rare hit saved (measured: 14% fewer requests/s with a
 * 16 MiB cache than with none, and 20 MiB more RSS). With the doorkeeper such blocks are
 * remembered, not copied; blocks that are asked for again (a hot key, a hot range) get in on
 * their second read, and one long scan reads through without flushing them.
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
/** The doorkeeper remembers as many ids as the budget holds blocks, and at least this many. */
const DOORKEEPER_MIN = 64;

interface Entry {
  /** The cache's own buffer; its length is what the budget counts. */
  buffer: Uint8Array;
  /**
   * The block over `buffer`, built once when it was kept (its restart table checked then, not per
   * hit).
   */
  block: DataBlock | undefined;
}

export class BlockCache {
  private readonly entries = new Map<number, Entry>();
  private readonly spare: Entry[] = [];
  /** Ids offered once and not kept, oldest first (a Set iterates in insertion order). */
  private readonly offered = new Set<number>();
  private used = 0;
  readonly stats = { hits: 0, misses: 0, evictions: 0, notAdmitted: 0 };

  constructor(readonly maxBytes: number) {}

  /**
   * Bytes held by cached blocks (their buffers), within maxBytes; up to MAX_SPARE evicted buffers
   * wait beside them.
   */
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
    return e.block;
  }

  /**
   * Offers a block just read: kept (a copy: the caller's block stays the caller's, the least
   * recently used ones evicted) when it was offered recently before, otherwise only remembered.
   */
  set(owner: number, block: number, value: DataBlock): void {
    const need = value.byteLength;
    const capacity = Math.ceil(need / BUFFER_STEP) * BUFFER_STEP;
    if (capacity + ENTRY_OVERHEAD > this.maxBytes) return;
    const id = owner * BLOCKS_PER_OWNER + block;
    if (!this.admit(id, capacity)) return;
    const old = this.entries.get(id);
    if (old) this.remove(id, old);
    this.evictUntil(capacity);
    let e = this.takeSpare(need, capacity);
    if (e)
      this.evictUntil(e.buffer.length); // a spare may be a little larger than asked
    else e = { buffer: new Uint8Array(capacity), block: undefined };
    value.copyTo(e.buffer);
    e.block = new DataBlock(e.buffer, value.count, value.source, value.what, need);
    this.entries.set(id, e);
    this.used += e.buffer.length + ENTRY_OVERHEAD;
  }

  /**
   * Forgets every block of one reader (called when it closes); their memory goes back to the
   * runtime.
   */
  drop(owner: number): void {
    for (const [key, e] of this.entries) {
      if (Math.floor(key / BLOCKS_PER_OWNER) === owner) {
        this.entries.delete(key);
        this.used -= e.buffer.length + ENTRY_OVERHEAD;
      }
    }
    for (const id of this.offered)
      if (Math.floor(id / BLOCKS_PER_OWNER) === owner) this.offered.delete(id);
    this.spare.length = 0;
  }

  /** The doorkeeper: true on a block's second offer within its memory, else remembers the first. */
  private admit(id: number, capacity: number): boolean {
    if (this.offered.delete(id) || this.entries.has(id)) return true;
    this.stats.notAdmitted++;
    this.offered.add(id);
    const limit = Math.max(DOORKEEPER_MIN, Math.ceil(this.maxBytes / capacity));
    if (this.offered.size > limit)
      this.offered.delete(this.offered.values().next().value as number);
    return false;
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
