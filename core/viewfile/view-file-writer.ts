/**
 * Writes a view file from entries given in strictly increasing key order.
 *
 *   const w = new ViewFileWriter(await fileSink('/tmp/part-0.sv'), { metadata: { view: 'pageviews' } });
 *   await w.add(['/home', 13], { count: 42 });
 *   await w.add(['/home', 14], { count: 7 });
 *   const summary = await w.finish();            // { count: 2, blocks: 1, bytes: … }
 *
 *   await store.put('views/pv/v3/part-0.sv', encodeViewFile(sortedEntries));   // as a byte stream
 *
 * Memory stays bounded by one block, the sparse index and 4 bytes per entry for the bloom filter
 * (it is sized and built only at finish, when the entry count is known). Blocks go to the sink as
 * soon as they fill. Layout: view-file-format.ts.
 */

import { StrataError } from '../errors.ts';
import {
  compareBytes,
  decodeKey,
  encodeKey,
  formatKey,
  MAX_KEY_BYTES,
  type Key,
  type KeyPart,
} from '../keys/key-codec.ts';
import { BLOOM_SEED, BloomFilter, bloomHash, HashCollector } from './bloom-filter.ts';
import { BlockBuilder } from './view-block.ts';
import {
  ByteWriter,
  checksum,
  encodeTrailer,
  FORMAT_VERSION,
  frame,
  header,
  HEADER_SIZE,
  MAX_FRAME_PAYLOAD,
  valuePackr,
  type ViewFileFooter,
} from './view-file-format.ts';
import { fileSink, type ViewFileSink } from './view-file-sink.ts';

export interface ViewFileWriterOptions {
  /** Target payload size of a data block in bytes (default 16 KiB): the unit a lookup reads. */
  blockSize?: number;
  /** Bloom filter false-positive rate (default 0.01). */
  bloomFalsePositiveRate?: number;
  /**
   * A plain object stored in the footer (job, version, bucket boundary …); read back as
   * reader.metadata.
   */
  metadata?: Record<string, unknown>;
}

export interface ViewFileSummary {
  count: number;
  blocks: number;
  /** Total file size. */
  bytes: number;
  minKey: KeyPart[] | undefined;
  maxKey: KeyPart[] | undefined;
}

export type ViewFileKey = KeyPart | Key | Uint8Array;

interface IndexEntry {
  firstKey: Uint8Array;
  offset: number;
  length: number;
  count: number;
}

export class ViewFileWriter {
  private readonly blockSize: number;
  private readonly fpRate: number;
  private readonly metadata: Record<string, unknown> | undefined;
  private readonly block: BlockBuilder;
  private readonly index: IndexEntry[] = [];
  private readonly hashes = new HashCollector();
  /** Where the next chunk starts in the file (the header is sent with the first chunk). */
  private offset = HEADER_SIZE;
  private headerSent = false;
  private entries = 0;
  private minKey: Uint8Array | undefined;
  private lastKey: Uint8Array | undefined;
  private state: 'open' | 'finished' | 'failed' = 'open';

  constructor(
    private readonly sink: ViewFileSink,
    options: ViewFileWriterOptions = {},
  ) {
    const { blockSize = 16 * 1024, bloomFalsePositiveRate = 0.01, metadata } = options;
    if (!Number.isInteger(blockSize) || blockSize < 64 || blockSize > 64 * 1024 * 1024) {
      throw new StrataError(
        'STRATA_E_USAGE',
        `blockSize must be an integer from 64 to 67108864 bytes, got ${blockSize}`,
      );
    }
    if (!(bloomFalsePositiveRate > 0 && bloomFalsePositiveRate < 1)) {
      throw new StrataError(
        'STRATA_E_USAGE',
        `bloomFalsePositiveRate must be between 0 and 1 (e.g. 0.01), got ${bloomFalsePositiveRate}`,
      );
    }
    if (
      metadata !== undefined &&
      (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    ) {
      throw new StrataError('STRATA_E_USAGE', 'metadata must be a plain object');
    }
    this.blockSize = blockSize;
    this.fpRate = bloomFalsePositiveRate;
    this.metadata = metadata;
    this.block = new BlockBuilder(blockSize);
  }

  /** Entries added so far. */
  get count(): number {
    return this.entries;
  }

  /**
   * Adds one entry; its key must sort after the previous one (STRATA_E_VIEWFILE_ORDER). Returns a
   * promise when a full block went to the sink: await it for backpressure.
   */
  add(key: ViewFileKey, value: unknown): void | Promise<void> {
    const keyBytes =
      key instanceof Uint8Array
        ? checkedKeyBytes(key).slice()
        : encodeKey(Array.isArray(key) ? (key as Key) : [key as KeyPart]);
    if (value === undefined) {
      throw new StrataError(
        'STRATA_E_JOB_VALUE',
        `the value for key ${formatKey(keyBytes)} is undefined: store null for "no value", or skip the key`,
        {
          details: { key: formatKey(keyBytes) },
        },
      );
    }
    let valueBytes: Uint8Array;
    try {
      valueBytes = valuePackr.pack(value);
    } catch (cause) {
      throw new StrataError(
        'STRATA_E_JOB_VALUE',
        `the value for key ${formatKey(keyBytes)} cannot be encoded as msgpack: use plain data (objects, arrays, strings, numbers, booleans, null, Uint8Array)`,
        {
          cause,
          details: { key: formatKey(keyBytes) },
        },
      );
    }
    return this.put(keyBytes, valueBytes);
  }

  /**
   * Adds an entry whose key is already encoded and whose value is already msgpack (copying a view
   * file, merging).
   */
  addEncoded(key: Uint8Array, value: Uint8Array): void | Promise<void> {
    return this.put(checkedKeyBytes(key).slice(), value.slice());
  }

  private put(key: Uint8Array, value: Uint8Array): void | Promise<void> {
    if (this.state !== 'open')
      throw new StrataError(
        'STRATA_E_USAGE',
        `this view file writer is ${this.state}: create a new one`,
      );
    if (this.lastKey !== undefined && compareBytes(this.lastKey, key) >= 0) {
      const same = compareBytes(this.lastKey, key) === 0;
      throw new StrataError(
        'STRATA_E_VIEWFILE_ORDER',
        `entry ${this.entries} has key ${formatKey(key)}, which ${same ? 'repeats' : 'sorts before'} the previous key ${formatKey(this.lastKey)}: ` +
          'give a view file each key once, in increasing key order (sort by compareKeys, combine duplicates first)',
        {
          details: {
            position: this.entries,
            key: formatKey(key),
            previous: formatKey(this.lastKey),
          },
        },
      );
    }
    if (value.length > MAX_FRAME_PAYLOAD / 2) {
      throw new StrataError(
        'STRATA_E_JOB_VALUE',
        `the value for key ${formatKey(key)} is ${value.length} bytes: view values must be under 1 GiB`,
      );
    }
    this.minKey ??= key;
    this.lastKey = key;
    this.entries++;
    this.hashes.add(bloomHash(key));
    this.block.add(key, value);
    if (this.block.size >= this.blockSize) return this.flushBlock();
  }

  private flushBlock(): void | Promise<void> {
    if (this.block.count === 0) return;
    const framed = frame(this.block.payload());
    this.index.push({
      firstKey: this.block.first!,
      offset: this.offset,
      length: framed.length,
      count: this.block.count,
    });
    this.block.reset();
    return this.emit(framed);
  }

  private emit(chunk: Uint8Array): void | Promise<void> {
    this.offset += chunk.length;
    if (!this.headerSent) {
      this.headerSent = true;
      const withHeader = new Uint8Array(HEADER_SIZE + chunk.length);
      withHeader.set(header());
      withHeader.set(chunk, HEADER_SIZE);
      chunk = withHeader;
    }
    const written = this.sink.write(chunk);
    if (written) {
      return written.catch((err: unknown) => {
        this.state = 'failed';
        throw err;
      });
    }
  }

  /** Writes the last block, the index, the bloom filter, the footer and the trailer. */
  async finish(): Promise<ViewFileSummary> {
    if (this.state !== 'open')
      throw new StrataError(
        'STRATA_E_USAGE',
        `this view file writer is ${this.state}: create a new one`,
      );
    this.state = 'finished';
    await this.flushBlock();

    const index = new ByteWriter(64 + this.index.length * 32);
    index.varint(this.index.length);
    for (const e of this.index) {
      index.varint(e.firstKey.length);
      index.bytes(e.firstKey);
      index.varint(e.offset);
      index.varint(e.length);
      index.varint(e.count);
    }
    const indexFrame = frame(index.view());
    const indexOffset = this.offset;
    await this.emit(indexFrame);

    const bloom = BloomFilter.build(this.hashes.view(), this.fpRate);
    const bloomFrame = frame(bloom.bits);
    const bloomOffset = this.offset;
    await this.emit(bloomFrame);

    const footer: ViewFileFooter = {
      formatVersion: FORMAT_VERSION,
      count: this.entries,
      blocks: this.index.length,
      blockSize: this.blockSize,
      minKey: this.minKey ?? null,
      maxKey: this.lastKey ?? null,
      index: { offset: indexOffset, length: indexFrame.length },
      bloom: {
        offset: bloomOffset,
        length: bloomFrame.length,
        bits: bloom.size,
        hashes: bloom.hashes,
        seed: BLOOM_SEED,
      },
      ...(this.metadata ? { metadata: this.metadata } : {}),
    };
    let footerBytes: Uint8Array;
    try {
      footerBytes = valuePackr.pack(footer);
    } catch (cause) {
      throw new StrataError(
        'STRATA_E_USAGE',
        'the view file metadata cannot be encoded as msgpack: use plain data',
        { cause },
      );
    }
    const trailer = encodeTrailer({
      indexOffset,
      footerLength: footerBytes.length,
      footerCrc: checksum(footerBytes),
      formatVersion: FORMAT_VERSION,
    });
    const tail = new Uint8Array(footerBytes.length + trailer.length);
    tail.set(footerBytes);
    tail.set(trailer, footerBytes.length);
    await this.emit(tail);
    return {
      count: this.entries,
      blocks: this.index.length,
      bytes: this.offset,
      minKey: this.minKey && decodeKey(this.minKey),
      maxKey: this.lastKey && decodeKey(this.lastKey),
    };
  }
}

function checkedKeyBytes(key: Uint8Array): Uint8Array {
  if (key.length > MAX_KEY_BYTES)
    throw new StrataError(
      'STRATA_E_KEY_INVALID',
      `an encoded key is ${key.length} bytes; keys are at most ${MAX_KEY_BYTES}`,
    );
  decodeKey(key); // throws STRATA_E_KEY_INVALID when the bytes are not an encoded key
  return key;
}

export type ViewFileEntries =
  AsyncIterable<readonly [ViewFileKey, unknown]> | Iterable<readonly [ViewFileKey, unknown]>;

/**
 * Writes sorted entries to a sink (or a new file at a path), then closes it; on failure the sink
 * is aborted (a file sink removes its partial file).
 */
export async function writeViewFile(
  entries: ViewFileEntries,
  sink: ViewFileSink | string,
  options: ViewFileWriterOptions = {},
): Promise<ViewFileSummary> {
  const target = typeof sink === 'string' ? await fileSink(sink) : sink;
  try {
    const writer = new ViewFileWriter(target, options);
    for await (const [key, value] of entries) await writer.add(key, value);
    const summary = await writer.finish();
    await target.close?.();
    return summary;
  } catch (err) {
    await target.abort?.(err);
    throw err;
  }
}

/**
 * The bytes of a view file as a stream (e.g. a store put body); pulls entries only as chunks are
 * consumed.
 */
export async function* encodeViewFile(
  entries: ViewFileEntries,
  options: ViewFileWriterOptions = {},
): AsyncGenerator<Uint8Array> {
  const ready: Uint8Array[] = [];
  const writer = new ViewFileWriter({ write: (chunk) => void ready.push(chunk) }, options);
  for await (const [key, value] of entries) {
    void writer.add(key, value); // the sink above is synchronous: nothing to wait for
    if (ready.length > 0) yield* ready.splice(0);
  }
  await writer.finish();
  yield* ready.splice(0);
}
