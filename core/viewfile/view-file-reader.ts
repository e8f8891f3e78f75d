/**
 * Reads a view file: random lookups by key and range scans in key order.
 *
 *   const r = await ViewFileReader.open('/data/part-0.sv');            // or any RandomAccessSource
 *   await r.get(['/home', 13]);                                         // { count: 42 } or undefined
 *   for await (const [key, value] of r.scan({ prefix: ['/home'], limit: 24 })) …
 *   for await (const e of r.scan({ prefix: ['/home'], after: lastKeySeen })) …  // resume a page
 *   await r.close();
 *
 * Opening reads the trailer, then the header and the tail (index, bloom, footer) together, and
 * keeps the tail in memory. A lookup checks the bloom filter, binary-searches the sparse index and
 * reads exactly one block (stats.blockReads counts reads that reach the source). A scan reads only
 * blocks that overlap its range, prefetching the next one it will certainly need. Every read is
 * checked (lengths, CRC32); damage is STRATA_E_VIEWFILE_CORRUPT naming the file, part and offset.
 *
 * A source that reads synchronously (a local file: fileSource) is read with one pread per block
 * (~3 µs from the page cache, against ~25 µs for an async read through the thread pool), into a
 * buffer shared by all readers that a lookup searches and lets go: a lookup allocates nothing but
 * its key and value. A block cache, given one, keeps its own copy. A disk read blocks the event
 * loop meanwhile: right for a local copy mostly in the page cache, which is what fileSource is for.
 * `checkBlocks: 'at-open'` verifies every block's CRC32 once, reading the file through when it
 * opens, instead of at each read: for a local copy nothing else writes (the view server's), it
 * moves that cost out of the lookups and turns a damaged copy into a failed open, not failed
 * lookups.
 */

import { StrataError } from '../errors.ts';
import {
  compareBytes,
  decodeKey,
  encodeKey,
  prefixRange,
  toKey,
  type Key,
  type KeyPart,
} from '../keys/key-codec.ts';
import { BlockCache } from './block-cache.ts';
import { bloomHash, type BloomFilter } from './bloom-filter.ts';
import { fileSource, type RandomAccessSource } from './random-access-source.ts';
import { DataBlock, viewOf, type ValueReader } from './view-block.ts';
import { corrupt, unframe, valueUnpackr, type ViewFileFooter } from './view-file-format.ts';
import { readExactly, readTail, verifyBlocks, type ViewFileTail } from './view-file-tail.ts';
import type { ViewFileKey } from './view-file-writer.ts';

export interface ViewFileReaderOptions {
  /**
   * A BlockCache shared with other readers, or a byte budget for a cache of this reader's own.
   * Default: none.
   */
  cache?: BlockCache | number;
  /**
   * When block checksums are verified: at each block read (default), or all at once when the file
   * opens.
   */
  checkBlocks?: 'each-read' | 'at-open';
}

export interface ScanOptions {
  /** Only keys that extend this tuple (a scalar is a 1-tuple; [] is every key). */
  prefix?: KeyPart | Key;
  /** Inclusive lower bound. */
  start?: ViewFileKey;
  /** Exclusive upper bound. */
  end?: ViewFileKey;
  /** Exclusive lower bound: the last key of the previous page, to resume after it. */
  after?: ViewFileKey;
  /** At most this many entries. */
  limit?: number;
}

export type ViewEntry = [key: KeyPart[], value: unknown];

export interface ViewFileReaderStats {
  /** Blocks read from the source (cache hits and shared in-flight reads not counted). */
  blockReads: number;
  /** Bytes of blocks read from the source. */
  bytesRead: number;
  /** Lookups answered "absent" by the bloom filter alone. */
  bloomNegatives: number;
}

let nextReaderId = 1;

// The buffer every synchronous lookup reads its block into. A lookup reads, searches and decodes
// without yielding, so no two ever hold it at once; it grows to the largest block seen.
let scratch = new Uint8Array(64 * 1024);

export class ViewFileReader {
  readonly stats: ViewFileReaderStats = { blockReads: 0, bytesRead: 0, bloomNegatives: 0 };
  private readonly id = nextReaderId++;
  private readonly inflight = new Map<number, Promise<DataBlock>>();
  private readonly name: string;

  private readonly footer: ViewFileFooter;
  private readonly firstKeys: Uint8Array[];
  private readonly offsets: number[];
  private readonly lengths: number[];
  private readonly counts: number[];
  private readonly bloom: BloomFilter;

  private constructor(
    private readonly source: RandomAccessSource,
    tail: ViewFileTail,
    private readonly cache: BlockCache | undefined,
    /**
     * Whether each block read checks its CRC32 (false once the whole file was verified at open).
     */
    private readonly checkCrc: boolean,
  ) {
    this.name = source.name ?? 'view file';
    ({
      footer: this.footer,
      firstKeys: this.firstKeys,
      offsets: this.offsets,
      lengths: this.lengths,
      counts: this.counts,
      bloom: this.bloom,
    } = tail);
  }

  /** Opens a view file at a path or over any random-access source. */
  static async open(
    source: RandomAccessSource | string,
    options: ViewFileReaderOptions = {},
  ): Promise<ViewFileReader> {
    const src = typeof source === 'string' ? await fileSource(source) : source;
    try {
      const cache =
        typeof options.cache === 'number' ? new BlockCache(options.cache) : options.cache;
      const atOpen = options.checkBlocks === 'at-open';
      const reader = new ViewFileReader(src, await readTail(src), cache, !atOpen);
      if (atOpen) await verifyBlocks(src, reader.name, reader.offsets, reader.lengths);
      return reader;
    } catch (err) {
      if (typeof source === 'string') await src.close?.();
      throw err;
    }
  }

  get count(): number {
    return this.footer.count;
  }

  get blocks(): number {
    return this.footer.blocks;
  }

  get metadata(): Record<string, unknown> | undefined {
    return this.footer.metadata;
  }

  get minKey(): KeyPart[] | undefined {
    return this.footer.minKey ? decodeKey(this.footer.minKey) : undefined;
  }

  get maxKey(): KeyPart[] | undefined {
    return this.footer.maxKey ? decodeKey(this.footer.maxKey) : undefined;
  }

  /** The sparse index, for tools and tests: where each block lies and what it starts with. */
  blockInfo(): Array<{ firstKey: KeyPart[]; offset: number; length: number; count: number }> {
    return this.firstKeys.map((k, i) => ({
      firstKey: decodeKey(k),
      offset: this.offsets[i]!,
      length: this.lengths[i]!,
      count: this.counts[i]!,
    }));
  }

  /** The value stored under `key`, or undefined. Reads at most one block. */
  async get(key: ViewFileKey): Promise<unknown> {
    const k = keyBytes(key);
    const i = this.candidateBlock(k);
    if (i < 0) return undefined;
    return (this.lookupBlock(i) ?? (await this.fetchBlock(i))).get(k, this.unpack);
  }

  async has(key: ViewFileKey): Promise<boolean> {
    return (await this.getEncoded(key)) !== undefined;
  }

  /**
   * The msgpack bytes stored under `key` (to pass on without decoding; the caller's own copy), or
   * undefined.
   */
  async getEncoded(key: ViewFileKey): Promise<Uint8Array | undefined> {
    const k = keyBytes(key);
    const i = this.candidateBlock(k);
    if (i < 0) return undefined;
    return (this.lookupBlock(i) ?? (await this.fetchBlock(i))).get(k, copyOf);
  }

  /**
   * The only block that may hold `key`, or -1 when the key range or the bloom filter rules it out.
   */
  private candidateBlock(k: Uint8Array): number {
    const { minKey, maxKey, bloom } = this.footer;
    if (!minKey || !maxKey || compareBytes(k, minKey) < 0 || compareBytes(k, maxKey) > 0) return -1;
    if (!this.bloom.mayContain(bloomHash(k, bloom.seed))) {
      this.stats.bloomNegatives++;
      return -1;
    }
    return this.blockFor(k);
  }

  /** Entries in key order within the options' bounds, decoded. */
  scan(options: ScanOptions = {}): AsyncGenerator<ViewEntry> {
    return this.walk(options, decodeKey, this.unpack);
  }

  /** Every entry, in key order. */
  entries(): AsyncGenerator<ViewEntry> {
    return this.scan();
  }

  /**
   * Like scan, with keys and values still encoded. The arrays may be shared with the block cache:
   * read them, copy them, never modify them.
   */
  scanEncoded(options: ScanOptions = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    return this.walk(options, (key) => key, viewOf);
  }

  /**
   * The one scan loop; keys and values are turned into what the caller wants as they are yielded.
   */
  private async *walk<K, V>(
    options: ScanOptions,
    readKey: (key: Uint8Array) => K,
    read: ValueReader<V>,
  ): AsyncGenerator<[K, V]> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit >= 0) || (limit !== Number.POSITIVE_INFINITY && !Number.isInteger(limit))) {
      throw new StrataError(
        'STRATA_E_USAGE',
        `scan limit must be a non-negative integer, got ${limit}`,
      );
    }
    const { lower, upper } = scanBounds(options);
    const maxKey = this.footer.maxKey;
    if (
      limit === 0 ||
      !maxKey ||
      (lower && compareBytes(lower, maxKey) > 0) ||
      (lower && upper && compareBytes(lower, upper) >= 0)
    )
      return;
    let b = lower ? Math.max(0, this.blockFor(lower)) : 0;
    let emitted = 0;
    let pending: Promise<DataBlock> | undefined = this.loadBlock(b);
    let from = lower;
    while (pending !== undefined) {
      const block: DataBlock = await pending;
      const next = b + 1;
      const nextOverlaps: boolean =
        next < this.blocks &&
        (upper === undefined || compareBytes(this.firstKeys[next]!, upper) < 0);
      // Prefetch the next block only when this one cannot end the scan by the limit.
      pending = nextOverlaps && emitted + block.count < limit ? this.loadBlock(next) : undefined;
      pending?.catch(() => {}); // a consumer that stops early must not leave an unhandled rejection
      for (const [key, value] of block.entries(from, read)) {
        if (upper && compareBytes(key, upper) >= 0) return;
        yield [readKey(key), value];
        if (++emitted >= limit) return;
      }
      if (!nextOverlaps) return;
      pending ??= this.loadBlock(next);
      from = undefined;
      b = next;
    }
  }

  async close(): Promise<void> {
    this.cache?.drop(this.id);
    await this.source.close?.();
  }

  /** The last block whose first key is ≤ key (0 when key precedes them all). */
  private blockFor(key: Uint8Array): number {
    let lo = 0;
    let hi = this.firstKeys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (compareBytes(this.firstKeys[mid]!, key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Block i for a scan, which holds it across yields: never the shared lookup buffer. */
  private loadBlock(i: number): Promise<DataBlock> {
    const cached = this.cache?.get(this.id, i);
    if (cached) return Promise.resolve(cached.copy());
    if (!this.source.readSync) return this.fetchBlock(i);
    try {
      const block = this.toBlock(i, this.readBlockSync(i, new Uint8Array(this.lengths[i]!)));
      this.cache?.set(this.id, i, block);
      return Promise.resolve(block);
    } catch (err) {
      return Promise.reject(err); // like an async read: a damaged prefetched block fails only when reached
    }
  }

  /**
   * Block i for a lookup, to search at once (it may lie in the cache's buffers or the shared
   * lookup buffer): from the cache, or read synchronously (the cache keeps a copy); undefined when
   * the source reads only asynchronously.
   */
  private lookupBlock(i: number): DataBlock | undefined {
    const cached = this.cache?.get(this.id, i);
    if (cached || !this.source.readSync) return cached;
    const length = this.lengths[i]!;
    if (scratch.length < length) scratch = new Uint8Array(Math.max(length, 2 * scratch.length));
    const block = this.toBlock(i, this.readBlockSync(i, scratch.subarray(0, length)));
    this.cache?.set(this.id, i, block);
    return block;
  }

  /** Reads block i's bytes into `into` (exactly its length) with the source's synchronous read. */
  private readBlockSync(i: number, into: Uint8Array): Uint8Array {
    const offset = this.offsets[i]!;
    this.stats.blockReads++;
    const n = this.source.readSync!(offset, into.length, into);
    if (n !== into.length)
      throw corrupt(
        this.name,
        `block ${i} at offset ${offset} is truncated: read ${n} of ${into.length} bytes`,
        { offset },
      );
    this.stats.bytesRead += n;
    return into;
  }

  /** Reads block i from the source, joining a read of it already in flight. */
  private fetchBlock(i: number): Promise<DataBlock> {
    let p = this.inflight.get(i);
    if (!p) {
      p = this.readBlock(i).finally(() => this.inflight.delete(i));
      this.inflight.set(i, p);
    }
    return p;
  }

  private async readBlock(i: number): Promise<DataBlock> {
    const offset = this.offsets[i]!;
    const length = this.lengths[i]!;
    this.stats.blockReads++;
    const bytes = await readExactly(
      this.source,
      this.name,
      offset,
      length,
      `block ${i} at offset ${offset}`,
    );
    this.stats.bytesRead += length;
    const block = this.toBlock(i, bytes);
    this.cache?.set(this.id, i, block);
    return block;
  }

  /** Checks block i's bytes (frame, CRC32 unless verified at open, restart table, first key). */
  private toBlock(i: number, bytes: Uint8Array): DataBlock {
    const offset = this.offsets[i]!;
    const what = `block ${i} at offset ${offset}`;
    const block = new DataBlock(
      unframe(bytes, this.name, what, offset, this.checkCrc),
      this.counts[i]!,
      this.name,
      what,
    );
    if (!block.firstKeyIs(this.firstKeys[i]!))
      throw corrupt(this.name, `${what} does not start with the key the index gives for it`, {
        offset,
      });
    return block;
  }

  // An arrow property: handed to blocks as a ValueReader, decoding in place without a view.
  private readonly unpack: ValueReader<unknown> = (payload, start, end) => {
    try {
      return valueUnpackr.unpack(payload, { start, end });
    } catch (cause) {
      throw corrupt(this.name, `a value is not valid msgpack (${String(cause)})`);
    }
  };
}

const copyOf: ValueReader<Uint8Array> = (payload, start, end) => payload.slice(start, end);

function keyBytes(key: ViewFileKey): Uint8Array {
  return key instanceof Uint8Array
    ? key
    : encodeKey(Array.isArray(key) ? (key as Key) : [key as KeyPart]);
}

/**
 * Inclusive lower and exclusive upper byte bounds; `after` becomes its byte successor (key + 0x00).
 */
function scanBounds(o: ScanOptions): {
  lower: Uint8Array | undefined;
  upper: Uint8Array | undefined;
} {
  const lowers: Uint8Array[] = [];
  const uppers: Uint8Array[] = [];
  if (o.prefix !== undefined && !(Array.isArray(o.prefix) && o.prefix.length === 0)) {
    const range = prefixRange(toKey(o.prefix));
    lowers.push(range.start);
    if (range.end) uppers.push(range.end);
  }
  if (o.start !== undefined) lowers.push(keyBytes(o.start));
  if (o.after !== undefined) {
    const a = keyBytes(o.after);
    const successor = new Uint8Array(a.length + 1);
    successor.set(a);
    lowers.push(successor);
  }
  if (o.end !== undefined) uppers.push(keyBytes(o.end));
  const pick = (xs: Uint8Array[], sign: number) =>
    xs.reduce<Uint8Array | undefined>(
      (m, x) => (m === undefined || compareBytes(x, m) * sign > 0 ? x : m),
      undefined,
    );
  return { lower: pick(lowers, 1), upper: pick(uppers, -1) };
}
