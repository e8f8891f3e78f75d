/**
 * Opening a view file: the trailer, then the header and everything a reader keeps in memory
 * (sparse index, bloom filter, footer), all checked before the reader answers anything; and, when
 * asked, every data block's checksum too.
 *
 *   const tail = await readTail(source);   // { footer, firstKeys, offsets, lengths, counts, bloom }
 *   await verifyBlocks(source, name, tail.offsets, tail.lengths);
 *
 * The sections sit together between the index offset (from the trailer) and the trailer, so this
 * is two round trips whatever the source (one of them two reads in parallel): it matters for
 * sources that are S3 range GETs.
 */

import { compareBytes } from '../keys/key-codec.ts';
import { BloomFilter } from './bloom-filter.ts';
import type { RandomAccessSource } from './random-access-source.ts';
import {
  ByteReader,
  checksum,
  corrupt,
  decodeTrailer,
  FORMAT_VERSION,
  hasMagic,
  HEADER_SIZE,
  TRAILER_SIZE,
  unframe,
  valueUnpackr,
  type ViewFileFooter,
} from './view-file-format.ts';

/** What a reader keeps in memory: everything but the data blocks. */
export interface ViewFileTail {
  footer: ViewFileFooter;
  firstKeys: Uint8Array[];
  offsets: number[];
  lengths: number[];
  counts: number[];
  bloom: BloomFilter;
}

/** Reads exactly `length` bytes at `offset`, or fails naming `what` as truncated. */
export async function readExactly(
  source: RandomAccessSource,
  name: string,
  offset: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  if (offset + length > source.size)
    throw corrupt(
      name,
      `${what} (${length} bytes) runs past the end of the ${source.size}-byte file`,
      { offset },
    );
  const bytes = await source.read(offset, length);
  if (bytes.length !== length)
    throw corrupt(name, `${what} is truncated: read ${bytes.length} of ${length} bytes`, {
      offset,
    });
  return bytes;
}

export async function readTail(source: RandomAccessSource): Promise<ViewFileTail> {
  const name = source.name ?? 'view file';
  const size = source.size;
  if (!Number.isSafeInteger(size) || size < HEADER_SIZE + TRAILER_SIZE)
    throw corrupt(name, `is ${size} bytes, too short to be a view file (truncated?)`);
  const trailerOffset = size - TRAILER_SIZE;
  const trailer = decodeTrailer(
    await readExactly(source, name, trailerOffset, TRAILER_SIZE, 'the trailer'),
    name,
    trailerOffset,
  );
  const footerOffset = trailerOffset - trailer.footerLength;
  const tailOffset = trailer.indexOffset;
  if (tailOffset < HEADER_SIZE || tailOffset > footerOffset) {
    throw corrupt(
      name,
      `the trailer points at offset ${tailOffset} for the index and ${footerOffset} for the footer, outside the file`,
      { offset: trailerOffset },
    );
  }
  const [head, tail] = await Promise.all([
    readExactly(source, name, 0, HEADER_SIZE, 'the header'),
    readExactly(
      source,
      name,
      tailOffset,
      trailerOffset - tailOffset,
      'the index, bloom filter and footer',
    ),
  ]);
  if (!hasMagic(head, 0))
    throw corrupt(name, 'no view file header at offset 0 (missing magic "STRATASV")', {
      offset: 0,
    });
  const headView = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (headView.getUint32(8) !== FORMAT_VERSION || headView.getUint32(12) !== 0) {
    throw corrupt(name, "the header's format version or reserved bytes are wrong", { offset: 8 });
  }
  const footerBytes = tail.subarray(footerOffset - tailOffset);
  if (checksum(footerBytes) !== trailer.footerCrc)
    throw corrupt(name, `the footer at offset ${footerOffset} failed its CRC32 check`, {
      offset: footerOffset,
    });
  const footer = parseFooter(footerBytes, name, footerOffset);
  const { index, bloom } = footer;
  if (
    index.offset !== tailOffset ||
    bloom.offset !== index.offset + index.length ||
    bloom.offset + bloom.length !== footerOffset
  ) {
    throw corrupt(name, "the footer's section offsets do not match the trailer", {
      offset: footerOffset,
    });
  }
  const indexPayload = unframe(
    tail.subarray(0, index.length),
    name,
    `the index at offset ${index.offset}`,
    index.offset,
  );
  const bloomBits = unframe(
    tail.subarray(index.length, index.length + bloom.length),
    name,
    `the bloom filter at offset ${bloom.offset}`,
    bloom.offset,
  );
  if (bloomBits.length !== Math.ceil(bloom.bits / 8))
    throw corrupt(name, 'the bloom filter size does not match the footer', {
      offset: bloom.offset,
    });

  // The first keys are views of one copy of the index, not a copy each: a lookup's binary search
  // then reads one contiguous run of memory instead of thousands of scattered allocations.
  const r = new ByteReader(indexPayload.slice(), name, 'the index');
  const blocks = r.varint();
  if (blocks !== footer.blocks)
    throw corrupt(name, `the index lists ${blocks} blocks, the footer ${footer.blocks}`);
  const firstKeys: Uint8Array[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  const counts: number[] = [];
  let expected = HEADER_SIZE;
  let total = 0;
  for (let i = 0; i < blocks; i++) {
    firstKeys.push(r.bytes(r.varint()));
    offsets.push(r.varint());
    lengths.push(r.varint());
    counts.push(r.varint());
    if (
      offsets[i] !== expected ||
      counts[i]! < 1 ||
      (i > 0 && compareBytes(firstKeys[i - 1]!, firstKeys[i]!) >= 0)
    )
      throw r.fail(`entry ${i} is out of place`);
    expected += lengths[i]!;
    total += counts[i]!;
  }
  if (expected !== tailOffset || total !== footer.count || !r.done)
    throw corrupt(name, 'the index does not cover the data blocks exactly');
  return {
    footer,
    firstKeys,
    offsets,
    lengths,
    counts,
    bloom: BloomFilter.from(bloomBits.slice(), bloom.bits, bloom.hashes),
  };
}

function parseFooter(bytes: Uint8Array, name: string, offset: number): ViewFileFooter {
  let f: ViewFileFooter;
  try {
    f = valueUnpackr.unpack(bytes) as ViewFileFooter;
  } catch {
    throw corrupt(name, `the footer at offset ${offset} is not valid msgpack`, { offset });
  }
  const isKey = (k: unknown) => k === null || k instanceof Uint8Array;
  const ok =
    typeof f === 'object' &&
    f !== null &&
    Number.isSafeInteger(f.count) &&
    Number.isSafeInteger(f.blocks) &&
    isKey(f.minKey) &&
    isKey(f.maxKey) &&
    typeof f.index === 'object' &&
    Number.isSafeInteger(f.index?.offset) &&
    Number.isSafeInteger(f.index?.length) &&
    typeof f.bloom === 'object' &&
    Number.isSafeInteger(f.bloom?.bits) &&
    Number.isSafeInteger(f.bloom?.hashes) &&
    Number.isSafeInteger(f.bloom?.seed);
  if (!ok) throw corrupt(name, `the footer at offset ${offset} lacks required fields`, { offset });
  return f;
}

/** How much of the data region one read covers when verifying a whole file. */
const VERIFY_CHUNK = 256 * 1024;

/**
 * Reads the data region through once, checking every block's frame and CRC32. A synchronous
 * source is read into one reused buffer, yielding to the event loop between reads, so verifying
 * a large file next to one in service neither piles up garbage nor stalls lookups.
 */
export async function verifyBlocks(
  source: RandomAccessSource,
  name: string,
  offsets: readonly number[],
  lengths: readonly number[],
): Promise<void> {
  const reuse = source.readSync ? new Uint8Array(VERIFY_CHUNK) : undefined;
  for (let i = 0; i < offsets.length;) {
    // Whole blocks up to VERIFY_CHUNK bytes per read (a larger block gets a read of its own).
    let j = i + 1;
    while (j < offsets.length && offsets[j]! + lengths[j]! - offsets[i]! <= VERIFY_CHUNK) j++;
    const start = offsets[i]!;
    const length = offsets[j - 1]! + lengths[j - 1]! - start;
    const what = `blocks ${i} to ${j - 1} at offset ${start}`;
    let bytes: Uint8Array;
    if (reuse && length <= reuse.length) {
      bytes = reuse.subarray(0, length);
      const n = source.readSync!(start, length, bytes);
      if (n !== length)
        throw corrupt(name, `${what} are truncated: read ${n} of ${length} bytes`, {
          offset: start,
        });
    } else {
      bytes = await readExactly(source, name, start, length, what);
    }
    for (; i < j; i++) {
      const at = offsets[i]! - start;
      unframe(
        bytes.subarray(at, at + lengths[i]!),
        name,
        `block ${i} at offset ${offsets[i]!}`,
        offsets[i]!,
      );
    }
    if (reuse) await new Promise((resolve) => setImmediate(resolve));
  }
}
