/**
 * The byte layout of a segment file: the immutable unit of the master dataset.
 *
 *   header   "STSG" u16 version u16 reserved                       (8 bytes)
 *   block*   u32 payloadLength, u32 crc32, u8 codec, u32 count, payload
 *   end      u32 0                                                 (no block has an empty payload)
 *   footer   msgpack SegmentFooter
 *   trailer  u32 footerLength, u32 crc32(footer), "STSG"            (12 bytes)
 *
 *   const footer = decodeFooter(tailBytes, size, 'master/pv/dt=2026-01-01/…seg');
 *   footer.blocks[3].offset  // where block 3 starts: a split may begin there
 *
 * All integers are big-endian. A block's CRC32 (zlib.crc32) covers its codec byte, its count and
 * its payload, so a flipped bit anywhere past the length field is caught; the length itself is
 * checked against the footer. The payload is one msgpack array of the block's records, packed with
 * msgpackr records (structures inline), so every block decodes on its own: readers can start at
 * any block, which is how the batch engine cuts byte-range splits.
 */
import zlib from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { StrataError } from '../errors.ts';

export const SEGMENT_MAGIC = Uint8Array.from([0x53, 0x54, 0x53, 0x47]); // "STSG"
export const SEGMENT_VERSION = 1;
export const HEADER_SIZE = 8;
export const BLOCK_HEADER_SIZE = 13;
export const END_MARKER_SIZE = 4;
export const TRAILER_SIZE = 12;

export const CODECS = { none: 0, deflate: 1 } as const;
export type SegmentCodec = keyof typeof CODECS;

/** A record as stored: any msgpack-encodable object. */
export type SegmentRecord = Record<string, unknown>;

export interface BlockInfo {
  /** Byte offset of the block header within the segment. */
  offset: number;
  /** Bytes of the whole block, header included. */
  length: number;
  count: number;
  /**
   * Event time bounds of the block's records, in ms since the epoch (null only for an empty
   * segment).
   */
  minTime: number;
  maxTime: number;
}

export interface SegmentFooter {
  format: number;
  dataset: string;
  records: number;
  minTime: number | null;
  maxTime: number | null;
  /** The record field the event times were taken from, when the writer was told. */
  timeField?: string;
  /**
   * Top-level field names seen in a sample of the records (schema-ish, for `strata datasets` and
   * humans).
   */
  fields: string[];
  /** When the segment was written, ms since the epoch. */
  created: number;
  blocks: BlockInfo[];
}

// One codec for every block: records with inline structures, so blocks are self-contained.
const packr = new Packr({ useRecords: true });
const unpackr = new Unpackr({ useRecords: true });
const footerPackr = new Packr({ useRecords: false });

export function packRecords(records: readonly unknown[]): Uint8Array {
  return packr.pack(records);
}

export function unpackRecords(payload: Uint8Array): unknown[] {
  return unpackr.unpack(payload) as unknown[];
}

export function encodeHeader(): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  out.set(SEGMENT_MAGIC, 0);
  new DataView(out.buffer).setUint16(4, SEGMENT_VERSION);
  return out;
}

export function checkHeader(bytes: Uint8Array, key: string): void {
  if (bytes.length < HEADER_SIZE || !hasMagic(bytes, 0)) {
    throw new StrataError(
      'STRATA_E_SEGMENT_FORMAT',
      `${key} is not a Strata segment (no STSG header); segments are written only by strata ingest and the speed layer`,
      { details: { key } },
    );
  }
  const version = view(bytes).getUint16(4);
  if (version !== SEGMENT_VERSION) {
    throw new StrataError(
      'STRATA_E_SEGMENT_FORMAT',
      `${key} is segment format version ${version}; this Strata reads version ${SEGMENT_VERSION} (upgrade Strata)`,
      { details: { key, version } },
    );
  }
}

/** The 13-byte block header: length, CRC32 over codec+count+payload, codec, record count. */
export function encodeBlockHeader(payload: Uint8Array, codec: number, count: number): Uint8Array {
  const head = new Uint8Array(BLOCK_HEADER_SIZE);
  const dv = view(head);
  dv.setUint32(0, payload.length);
  head[8] = codec;
  dv.setUint32(9, count);
  dv.setUint32(4, zlib.crc32(payload, zlib.crc32(head.subarray(8))));
  return head;
}

export interface BlockContext {
  key: string;
  index: number;
  offset: number;
}

/**
 * Checks and decodes one whole block (header included). A failed length or CRC check, an unknown
 * codec or an undecodable payload is STRATA_E_SEGMENT_CORRUPT naming the segment and the block.
 */
export function decodeBlock(
  bytes: Uint8Array,
  ctx: BlockContext,
  expected?: { length: number; count: number },
): unknown[] {
  const where = `segment ${ctx.key} block ${ctx.index} at byte ${ctx.offset}`;
  const corrupt = (problem: string, cause?: unknown) =>
    new StrataError(
      'STRATA_E_SEGMENT_CORRUPT',
      `${where}: ${problem}; the segment is damaged (restore it from a backup or re-ingest its source)`,
      { details: { key: ctx.key, block: ctx.index, offset: ctx.offset }, cause },
    );
  if (bytes.length < BLOCK_HEADER_SIZE)
    throw corrupt(`truncated block header (${bytes.length} bytes)`);
  const dv = view(bytes);
  const payloadLength = dv.getUint32(0);
  if (
    payloadLength + BLOCK_HEADER_SIZE !== bytes.length ||
    (expected && expected.length !== bytes.length)
  ) {
    throw corrupt(
      `length ${payloadLength + BLOCK_HEADER_SIZE} does not match the ${expected?.length ?? bytes.length} bytes the footer gives`,
    );
  }
  const stored = dv.getUint32(4);
  const actual = zlib.crc32(bytes.subarray(8));
  if (stored !== actual)
    throw corrupt(`CRC32 mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);
  const codec = bytes[8]!;
  const count = dv.getUint32(9);
  if (expected && expected.count !== count)
    throw corrupt(`holds ${count} records but the footer says ${expected.count}`);
  let payload = bytes.subarray(BLOCK_HEADER_SIZE);
  let records: unknown[];
  try {
    if (codec === CODECS.deflate) payload = zlib.inflateRawSync(payload);
    else if (codec !== CODECS.none) throw new Error(`unknown codec ${codec}`);
    records = unpackRecords(payload);
  } catch (err) {
    throw corrupt(`payload cannot be decoded (${(err as Error).message})`, err);
  }
  if (!Array.isArray(records) || records.length !== count)
    throw corrupt(
      `decoded ${Array.isArray(records) ? records.length : 'no'} records, header says ${count}`,
    );
  return records;
}

/** Footer bytes followed by the trailer. */
export function encodeFooter(footer: SegmentFooter): Uint8Array {
  const body = footerPackr.pack(footer);
  const out = new Uint8Array(body.length + TRAILER_SIZE);
  out.set(body, 0);
  const dv = view(out);
  dv.setUint32(body.length, body.length);
  dv.setUint32(body.length + 4, zlib.crc32(body));
  out.set(SEGMENT_MAGIC, body.length + 8);
  return out;
}

/** Footer length from the last 12 bytes of a segment of `size` bytes (checks the trailer magic). */
export function footerLengthFromTrailer(trailer: Uint8Array, size: number, key: string): number {
  if (
    size < HEADER_SIZE + END_MARKER_SIZE + TRAILER_SIZE ||
    trailer.length < TRAILER_SIZE ||
    !hasMagic(trailer, trailer.length - 4)
  ) {
    throw new StrataError(
      'STRATA_E_SEGMENT_FORMAT',
      `${key} (${size} bytes) is not a Strata segment or is truncated: no STSG trailer`,
      { details: { key, size } },
    );
  }
  const length = view(trailer).getUint32(trailer.length - TRAILER_SIZE);
  if (length + TRAILER_SIZE + HEADER_SIZE + END_MARKER_SIZE > size) {
    throw new StrataError(
      'STRATA_E_SEGMENT_CORRUPT',
      `${key}: footer length ${length} exceeds the ${size}-byte segment; the segment is damaged`,
      { details: { key, size } },
    );
  }
  return length;
}

/**
 * Decodes the footer from bytes that end with the trailer (`tail` may start anywhere before the
 * footer).
 */
export function decodeFooter(tail: Uint8Array, size: number, key: string): SegmentFooter {
  const length = footerLengthFromTrailer(tail.subarray(tail.length - TRAILER_SIZE), size, key);
  const start = tail.length - TRAILER_SIZE - length;
  if (start < 0)
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `decodeFooter needs the last ${length + TRAILER_SIZE} bytes of ${key}, got ${tail.length}`,
    );
  const body = tail.subarray(start, start + length);
  const stored = view(tail).getUint32(tail.length - 8);
  const corrupt = (problem: string, cause?: unknown) =>
    new StrataError(
      'STRATA_E_SEGMENT_CORRUPT',
      `segment ${key} footer at byte ${size - TRAILER_SIZE - length}: ${problem}; the segment is damaged`,
      { details: { key, offset: size - TRAILER_SIZE - length }, cause },
    );
  if (zlib.crc32(body) !== stored)
    throw corrupt(`CRC32 mismatch (stored ${hex(stored)}, computed ${hex(zlib.crc32(body))})`);
  let footer: SegmentFooter;
  try {
    footer = footerPackr.unpack(body) as SegmentFooter;
  } catch (err) {
    throw corrupt(`cannot be decoded (${(err as Error).message})`, err);
  }
  if (footer?.format !== SEGMENT_VERSION) {
    throw new StrataError(
      'STRATA_E_SEGMENT_FORMAT',
      `${key} has footer format ${String(footer?.format)}; this Strata reads version ${SEGMENT_VERSION}`,
      { details: { key } },
    );
  }
  return footer;
}

/** Where the footer starts, i.e. where the blocks (and the end marker) stop. */
export function footerOffset(size: number, footerLength: number): number {
  return size - TRAILER_SIZE - footerLength;
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  return SEGMENT_MAGIC.every((b, i) => bytes[at + i] === b);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
