/**
 * Random-access reading of one segment: the footer first, then any run of blocks.
 *
 *   const reader = await SegmentReader.open((offset, length) => store.get(key, { start: offset, end: offset + length }), size, { key });
 *   reader.footer.records;                                          // from the footer alone
 *   for await (const r of reader.records({ fromBlock: 3 })) …;      // a split starting at block 3
 *   for await (const b of reader.blocks({ minTime, maxTime })) …;   // blocks outside the range are never read
 *
 * Consecutive wanted blocks are fetched in reads of up to `readBytes` (one read ahead while the
 * current batch decodes), so a split costs few round trips on S3. Every block is CRC-checked.
 *
 * Skip mode (a job with a bad-record budget): `blocks(selection, { skipCorrupt: true })` yields a
 * block that fails its checks as `{ index, info, records: [], corrupt }` and goes on with the next
 * one. The footer (itself CRC-checked) says where every block starts and how many records it
 * held, so one damaged block never hides the others and the loss is known exactly.
 */
import { isStrataError, StrataError } from '../errors.ts';
import {
  HEADER_SIZE,
  TRAILER_SIZE,
  checkHeader,
  decodeBlock,
  decodeFooter,
  footerLengthFromTrailer,
  type BlockInfo,
  type SegmentFooter,
  type SegmentRecord,
} from './segment-format.ts';

/** Reads `length` bytes at `offset`; must return exactly that many. */
export type ReadRange = (offset: number, length: number) => Promise<Uint8Array>;

export interface BlockSelection {
  /** First block index to read (inclusive). Default 0. */
  fromBlock?: number;
  /** Block index to stop before (exclusive). Default: all blocks. */
  toBlock?: number;
  /**
   * Skip blocks whose records all lie before this event time (ms, inclusive bound). Records inside
   * a kept block are not filtered.
   */
  minTime?: number;
  /** Skip blocks whose records all lie after this event time (ms, inclusive bound). */
  maxTime?: number;
}

export interface DecodedBlock {
  index: number;
  info: BlockInfo;
  /** Empty for a skipped corrupt block: `info.count` records were lost. */
  records: SegmentRecord[];
  /**
   * In skip mode, why this block was skipped (STRATA_E_SEGMENT_CORRUPT naming the segment and
   * block).
   */
  corrupt?: StrataError;
}

export interface BlockReadOptions {
  /**
   * Yield a block that fails its CRC, length or decoding check as `corrupt` instead of throwing.
   * Default false.
   */
  skipCorrupt?: boolean;
}

/** Bytes read from the end of a segment to find its footer in one request, usually. */
const TAIL_GUESS = 64 * 1024;
const DEFAULT_READ_BYTES = 8 * 1024 * 1024;

export class SegmentReader {
  readonly key: string;
  readonly size: number;
  readonly footer: SegmentFooter;
  readonly #read: ReadRange;
  readonly #readBytes: number;

  private constructor(
    read: ReadRange,
    size: number,
    key: string,
    footer: SegmentFooter,
    readBytes: number,
  ) {
    this.#read = read;
    this.size = size;
    this.key = key;
    this.footer = footer;
    this.#readBytes = readBytes;
  }

  static async open(
    read: ReadRange,
    size: number,
    options: { key?: string; readBytes?: number } = {},
  ): Promise<SegmentReader> {
    const key = options.key ?? '(segment)';
    const footer = await readFooter(read, size, key);
    return new SegmentReader(read, size, key, footer, options.readBytes ?? DEFAULT_READ_BYTES);
  }

  get blockCount(): number {
    return this.footer.blocks.length;
  }

  /** Indices of the blocks that start in [start, end): how byte-range splits map to blocks. */
  blocksInByteRange(start: number, end: number): { fromBlock: number; toBlock: number } {
    const blocks = this.footer.blocks;
    let from = 0;
    while (from < blocks.length && blocks[from]!.offset < start) from++;
    let to = from;
    while (to < blocks.length && blocks[to]!.offset < end) to++;
    return { fromBlock: from, toBlock: to };
  }

  /** The selected blocks, decoded and checked, in order. */
  async *blocks(
    selection: BlockSelection = {},
    options: BlockReadOptions = {},
  ): AsyncGenerator<DecodedBlock> {
    const wanted = this.#select(selection);
    const batches = this.#batches(wanted);
    let next = batches.length ? this.#fetch(batches[0]!) : undefined;
    for (let b = 0; b < batches.length; b++) {
      const bytes = await next!;
      // Read ahead while this batch decodes.
      next = b + 1 < batches.length ? this.#fetch(batches[b + 1]!) : undefined;
      next?.catch(() => {}); // surfaced when awaited
      const batch = batches[b]!;
      const base = batch.start;
      for (const index of batch.indices) {
        const info = this.footer.blocks[index]!;
        const block = bytes.subarray(info.offset - base, info.offset - base + info.length);
        let records: SegmentRecord[];
        try {
          records = decodeBlock(
            block,
            { key: this.key, index, offset: info.offset },
            info,
          ) as SegmentRecord[];
        } catch (err) {
          if (!options.skipCorrupt || !isStrataError(err, 'STRATA_E_SEGMENT_CORRUPT')) throw err;
          yield { index, info, records: [], corrupt: err };
          continue;
        }
        yield { index, info, records };
      }
    }
  }

  /** The records of the selected blocks, in order. */
  async *records(selection: BlockSelection = {}): AsyncGenerator<SegmentRecord> {
    for await (const block of this.blocks(selection)) yield* block.records;
  }

  #select(sel: BlockSelection): number[] {
    const blocks = this.footer.blocks;
    const from = sel.fromBlock ?? 0;
    const to = sel.toBlock ?? blocks.length;
    if (
      !Number.isInteger(from) ||
      !Number.isInteger(to) ||
      from < 0 ||
      to > blocks.length ||
      from > to
    ) {
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `block range [${from}, ${to}) is outside ${this.key}'s ${blocks.length} blocks`,
      );
    }
    const out: number[] = [];
    for (let i = from; i < to; i++) {
      const b = blocks[i]!;
      if (sel.minTime !== undefined && b.maxTime < sel.minTime) continue;
      if (sel.maxTime !== undefined && b.minTime > sel.maxTime) continue;
      out.push(i);
    }
    return out;
  }

  /**
   * Groups wanted blocks into contiguous reads of at most readBytes (a bigger block gets its own
   * read).
   */
  #batches(indices: number[]): { start: number; end: number; indices: number[] }[] {
    const blocks = this.footer.blocks;
    const out: { start: number; end: number; indices: number[] }[] = [];
    for (const i of indices) {
      const b = blocks[i]!;
      const last = out.at(-1);
      if (last && last.end === b.offset && b.offset + b.length - last.start <= this.#readBytes) {
        last.end = b.offset + b.length;
        last.indices.push(i);
      } else {
        out.push({ start: b.offset, end: b.offset + b.length, indices: [i] });
      }
    }
    // The first block's read also takes the file header, so it is checked for free.
    const first = out[0];
    if (first && first.start === blocks[0]!.offset && first.start === HEADER_SIZE) first.start = 0;
    return out;
  }

  async #fetch(batch: { start: number; end: number; indices: number[] }): Promise<Uint8Array> {
    const length = batch.end - batch.start;
    const bytes = await this.#read(batch.start, length);
    if (bytes.length !== length) {
      const index = batch.indices[0]!;
      throw new StrataError(
        'STRATA_E_SEGMENT_CORRUPT',
        `segment ${this.key} block ${index} at byte ${batch.start}: read ${bytes.length} of ${length} bytes; the segment is truncated or damaged`,
        {
          details: { key: this.key, block: index, offset: batch.start },
        },
      );
    }
    if (batch.start === 0) checkHeader(bytes, this.key);
    return bytes;
  }
}

/** Reads and checks only the footer of a segment (one range read, two when the footer is large). */
export async function readFooter(
  read: ReadRange,
  size: number,
  key: string,
): Promise<SegmentFooter> {
  if (size < TRAILER_SIZE) footerLengthFromTrailer(new Uint8Array(0), size, key);
  const guess = Math.min(size, TAIL_GUESS);
  let tail = await read(size - guess, guess);
  const footerLength = footerLengthFromTrailer(
    tail.subarray(tail.length - TRAILER_SIZE),
    size,
    key,
  );
  if (footerLength + TRAILER_SIZE > tail.length)
    tail = await read(size - footerLength - TRAILER_SIZE, footerLength + TRAILER_SIZE);
  if (guess === size) checkHeader(tail, key);
  return decodeFooter(tail, size, key);
}
