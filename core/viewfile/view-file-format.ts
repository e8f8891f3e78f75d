/**
 * The view file (`part-<r>.sv`) byte layout, shared by the writer and the reader.
 *
 *   header   16 B   magic "STRATASV", u32 format version, u32 zero
 *   block*          u32 payload length, u32 CRC32(payload), payload: entries in key order, each
 *                   varint shared-prefix length, varint suffix length, key suffix,
 *                   varint value length, value (msgpack); then the restart table (view-block.ts).
 *   index           framed like a block; payload: varint block count, then per block
 *                   varint key length, first key, varint offset, varint framed length, varint entries
 *   bloom           framed like a block; payload: the filter's bit set (see bloom-filter.ts)
 *   footer          msgpack ViewFileFooter (counts, min/max key, section offsets, user metadata)
 *   trailer  32 B   u64 index offset, u32 footer length, u32 CRC32(footer), u32 format version,
 *                   u32 CRC32(trailer bytes 0..19), magic "STRATASV"
 *
 * All integers are big-endian. Everything a reader keeps in memory (index, bloom, footer) sits
 * between the index offset and the trailer, so opening a file costs two reads after the trailer.
 * Keys are encoded tuple keys (core/keys/key-codec.ts); prefix compression suits them because
 * neighbours share their row key ([url, hour] …).
 */

import { crc32 } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { StrataError } from '../errors.ts';

export const MAGIC = new Uint8Array([0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x53, 0x56]); // "STRATASV"
export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 16;
export const TRAILER_SIZE = 32;
export const FRAME_HEADER_SIZE = 8;
/** Blocks and sections are length-prefixed with a u32; keep far below it. */
export const MAX_FRAME_PAYLOAD = 0x7fffffff;

export interface ViewFileFooter {
  formatVersion: number;
  /** Entries in the file. */
  count: number;
  blocks: number;
  /** Target payload size of a data block, in bytes. */
  blockSize: number;
  /** Encoded first and last keys; null when the file is empty. */
  minKey: Uint8Array | null;
  maxKey: Uint8Array | null;
  index: { offset: number; length: number };
  bloom: { offset: number; length: number; bits: number; hashes: number; seed: number };
  metadata?: Record<string, unknown>;
}

// One codec for values and the footer: plain maps as objects, binary copied out of the block
// (a value handed to a caller must not pin or alias a cached block).
export const valuePackr = new Packr({ useRecords: false, variableMapSize: true });
export const valueUnpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
});

export function checksum(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

export function corrupt(
  source: string,
  what: string,
  details: Record<string, unknown> = {},
): StrataError {
  return new StrataError(
    'STRATA_E_VIEWFILE_CORRUPT',
    `${source}: ${what}; the view file is damaged or not a view file: rebuild it (re-run the job)`,
    {
      details: { source, ...details },
    },
  );
}

/** Wraps a payload as [u32 length][u32 crc32][payload]. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, checksum(payload));
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/**
 * Checks a frame read from `offset` and returns its payload (a view, no copy). `what` names it and
 * its offset. `checkCrc: false` skips the checksum, for bytes already verified once (see
 * ViewFileReader).
 */
export function unframe(
  bytes: Uint8Array,
  source: string,
  what: string,
  offset: number,
  checkCrc = true,
): Uint8Array {
  if (bytes.length < FRAME_HEADER_SIZE)
    throw corrupt(source, `${what} is truncated (${bytes.length} bytes)`, { offset });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0);
  if (length !== bytes.length - FRAME_HEADER_SIZE) {
    throw corrupt(
      source,
      `${what} says it holds ${length} bytes but ${bytes.length - FRAME_HEADER_SIZE} were expected`,
      { offset },
    );
  }
  const payload = bytes.subarray(FRAME_HEADER_SIZE);
  if (checkCrc && checksum(payload) !== view.getUint32(4))
    throw corrupt(source, `${what} (${bytes.length} bytes) failed its CRC32 check`, { offset });
  return payload;
}

export function header(): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  out.set(MAGIC);
  new DataView(out.buffer).setUint32(8, FORMAT_VERSION);
  return out;
}

export function hasMagic(bytes: Uint8Array, at: number): boolean {
  if (bytes.length < at + MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[at + i] !== MAGIC[i]) return false;
  return true;
}

export interface Trailer {
  indexOffset: number;
  footerLength: number;
  footerCrc: number;
  formatVersion: number;
}

export function encodeTrailer(t: Trailer): Uint8Array {
  const out = new Uint8Array(TRAILER_SIZE);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(t.indexOffset));
  view.setUint32(8, t.footerLength);
  view.setUint32(12, t.footerCrc);
  view.setUint32(16, t.formatVersion);
  view.setUint32(20, checksum(out.subarray(0, 20)));
  out.set(MAGIC, 24);
  return out;
}

export function decodeTrailer(bytes: Uint8Array, source: string, offset: number): Trailer {
  if (bytes.length !== TRAILER_SIZE || !hasMagic(bytes, 24)) {
    throw corrupt(
      source,
      `no view file trailer at offset ${offset} (missing magic "STRATASV"; truncated?)`,
      { offset },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (checksum(bytes.subarray(0, 20)) !== view.getUint32(20))
    throw corrupt(source, `the trailer at offset ${offset} failed its CRC32 check`, { offset });
  const formatVersion = view.getUint32(16);
  if (formatVersion !== FORMAT_VERSION) {
    throw corrupt(
      source,
      `format version ${formatVersion} is not supported (this Strata reads version ${FORMAT_VERSION})`,
      { formatVersion },
    );
  }
  const indexOffset = view.getBigUint64(0);
  if (indexOffset > BigInt(Number.MAX_SAFE_INTEGER))
    throw corrupt(source, `the trailer's index offset ${indexOffset} is impossible`, { offset });
  return {
    indexOffset: Number(indexOffset),
    footerLength: view.getUint32(8),
    footerCrc: view.getUint32(12),
    formatVersion,
  };
}

/** A growable byte buffer with LEB128 varints (exact up to 2^53: offsets may pass 4 GiB). */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  u32(n: number): void {
    this.ensure(4);
    const buf = this.buf;
    buf[this.pos++] = n >>> 24;
    buf[this.pos++] = (n >>> 16) & 0xff;
    buf[this.pos++] = (n >>> 8) & 0xff;
    buf[this.pos++] = n & 0xff;
  }

  /**
   * Appends b[from..]; a plain loop for short runs, where making a view would cost more than
   * copying.
   */
  copy(b: Uint8Array, from: number): void {
    const n = b.length - from;
    this.ensure(n);
    if (n > 64) {
      this.buf.set(b.subarray(from), this.pos);
    } else {
      const buf = this.buf;
      const pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos + i] = b[from + i]!;
    }
    this.pos += n;
  }

  reset(): void {
    this.pos = 0;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Reads varints and byte runs, turning any overrun into STRATA_E_VIEWFILE_CORRUPT. */
export class ByteReader {
  pos = 0;

  constructor(
    readonly buf: Uint8Array,
    readonly source: string,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) break;
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    throw corrupt(this.source, `${this.what} has a bad length field at byte ${this.pos}`);
  }

  fail(why: string): StrataError {
    return corrupt(this.source, `${this.what} ${why} (at byte ${this.pos})`);
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length)
      throw corrupt(
        this.source,
        `${this.what} is cut short at byte ${this.pos} (needs ${n} more bytes)`,
      );
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
