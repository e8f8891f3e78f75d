/**
 * Sequential reading of a whole segment from a byte stream, for scans that read everything anyway
 * (no footer read first, one request).
 *
 *   for await (const block of readSegmentStream(await store.getStream(key), { key })) handle(block.records);
 *
 * Blocks are CRC-checked as they arrive; at the end the footer's CRC, its block table and its
 * record count are checked against what was read, so a truncated stream never passes silently.
 *
 * With `skipCorrupt`, a block whose CRC or payload is bad is yielded as `{ records: [], corrupt }`
 * and reading goes on (its length field still says where the next block starts; a damaged length
 * shows as a mismatch with the footer, which always fails). How many records such a block held is
 * known only from the footer: `onFooter` gets it, and `footer.blocks[index].count` tells.
 */
import { isStrataError, StrataError } from '../errors.ts';
import {
  BLOCK_HEADER_SIZE,
  END_MARKER_SIZE,
  HEADER_SIZE,
  checkHeader,
  decodeBlock,
  decodeFooter,
  type SegmentFooter,
  type SegmentRecord,
} from './segment-format.ts';

export interface StreamedBlock {
  index: number;
  offset: number;
  /** Empty for a skipped corrupt block. */
  records: SegmentRecord[];
  /**
   * With skipCorrupt, why this block was skipped (STRATA_E_SEGMENT_CORRUPT naming the segment and
   * block).
   */
  corrupt?: StrataError;
}

export async function* readSegmentStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { key?: string; onFooter?: (footer: SegmentFooter) => void; skipCorrupt?: boolean } = {},
): AsyncGenerator<StreamedBlock> {
  const key = options.key ?? '(segment)';
  const bytes = new ByteQueue(
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source),
  );
  const truncated = (offset: number, what: string) =>
    new StrataError(
      'STRATA_E_SEGMENT_CORRUPT',
      `segment ${key} at byte ${offset}: stream ended inside ${what}; the segment is truncated`,
      { details: { key, offset } },
    );

  const header = await bytes.take(HEADER_SIZE);
  if (!header)
    throw new StrataError(
      'STRATA_E_SEGMENT_FORMAT',
      `${key} is not a Strata segment (shorter than its header)`,
      { details: { key } },
    );
  checkHeader(header, key);
  let offset = HEADER_SIZE;
  // count is undefined for a skipped block: its header cannot be trusted.
  const seen: { offset: number; length: number; count: number | undefined }[] = [];
  for (let index = 0; ; index++) {
    const lengthBytes = await bytes.peek(4);
    if (!lengthBytes) throw truncated(offset, `the header of block ${index}`);
    const payloadLength = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 4).getUint32(0);
    if (payloadLength === 0) break;
    const block = await bytes.take(BLOCK_HEADER_SIZE + payloadLength);
    if (!block) throw truncated(offset, `block ${index}`);
    let records: SegmentRecord[];
    try {
      records = decodeBlock(block, { key, index, offset }) as SegmentRecord[];
    } catch (err) {
      if (!options.skipCorrupt || !isStrataError(err, 'STRATA_E_SEGMENT_CORRUPT')) throw err;
      seen.push({ offset, length: block.length, count: undefined });
      yield { index, offset, records: [], corrupt: err };
      offset += block.length;
      continue;
    }
    seen.push({ offset, length: block.length, count: records.length });
    yield { index, offset, records };
    offset += block.length;
  }
  await bytes.take(END_MARKER_SIZE);
  const tail = await bytes.rest();
  const size = offset + END_MARKER_SIZE + tail.length;
  const footer = decodeFooter(tail, size, key);
  const matches =
    footer.blocks.length === seen.length &&
    footer.blocks.every(
      (b, i) =>
        b.offset === seen[i]!.offset &&
        b.length === seen[i]!.length &&
        (seen[i]!.count === undefined || b.count === seen[i]!.count),
    ) &&
    footer.records === seen.reduce((n, b, i) => n + (b.count ?? footer.blocks[i]!.count), 0);
  if (!matches) {
    throw new StrataError(
      'STRATA_E_SEGMENT_CORRUPT',
      `segment ${key}: the footer lists ${footer.blocks.length} blocks / ${footer.records} records but the stream held ${seen.length} blocks; the segment is damaged`,
      {
        details: { key, offset },
      },
    );
  }
  options.onFooter?.(footer);
}

async function* toAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** Concatenates stream chunks on demand; copies only when a request spans chunks. */
class ByteQueue {
  readonly #source: AsyncIterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #length = 0;
  #done = false;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.#source = source;
  }

  /** Exactly n bytes without consuming them, or undefined if the stream ends first. */
  async peek(n: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(n))) return undefined;
    return this.#gather(n, false);
  }

  async take(n: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(n))) return undefined;
    return this.#gather(n, true);
  }

  async rest(): Promise<Uint8Array> {
    await this.#fill(Infinity);
    return this.#gather(this.#length, true);
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#length < n && !this.#done) {
      const next = await this.#source.next();
      if (next.done) this.#done = true;
      else if (next.value.length > 0) {
        this.#chunks.push(next.value);
        this.#length += next.value.length;
      }
    }
    return this.#length >= n;
  }

  #gather(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (consume) {
        if (first.length === n) this.#chunks.shift();
        else this.#chunks[0] = first.subarray(n);
      }
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      let used = 0;
      for (const c of this.#chunks) {
        const take = Math.min(c.length, n - filled);
        out.set(c.subarray(0, take), filled);
        filled += take;
        if (take === c.length) used++;
        else {
          if (consume) this.#chunks[used] = c.subarray(take);
          break;
        }
        if (filled === n) break;
      }
      if (consume) this.#chunks.splice(0, used);
    }
    if (consume) this.#length -= n;
    return out;
  }
}
