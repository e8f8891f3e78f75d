/**
 * One data block of a view file: building it (writer side) and searching it (reader side).
 *
 *   const b = new BlockBuilder();  b.add(key1, value1); b.add(key2, value2);
 *   const block = new DataBlock(b.payload(), 2, 'part-0.sv', 'block 0 at offset 16');
 *   block.get(key2, viewOf);              // the value's msgpack bytes, or undefined
 *   for (const [k, v] of block.entries(from, viewOf)) …
 *
 * Payload: the entries (see view-file-format.ts), then u32 offsets of the restart entries, then
 * the u32 number of restarts. Keys are prefix-compressed against the previous key, except every
 * RESTART_INTERVAL-th entry, which holds its whole key (as in LevelDB). A lookup binary-searches
 * the
 * restarts, comparing keys in place, then decodes at most RESTART_INTERVAL entries: a 16 KiB block
 * of short keys holds a thousand entries or more, and decoding all of them would cost more than
 * the read itself.
 */

import { MAX_KEY_BYTES } from '../keys/key-codec.ts';
import { ByteWriter, corrupt } from './view-file-format.ts';

export const RESTART_INTERVAL = 16;

/**
 * Turns a value's byte range in the block into what the caller wants. Decoders take the range
 * rather than a view because making a typed-array view costs about as much as decoding a small
 * value.
 */
export type ValueReader<V> = (payload: Uint8Array, start: number, end: number) => V;

/** A view of the value's msgpack bytes (shared with the block: never modify it). */
export const viewOf: ValueReader<Uint8Array> = (payload, start, end) =>
  payload.subarray(start, end);

export class BlockBuilder {
  private readonly out: ByteWriter;
  private readonly restarts: number[] = [];
  private last: Uint8Array | undefined;
  count = 0;
  first: Uint8Array | undefined;

  constructor(capacity = 16 * 1024) {
    this.out = new ByteWriter(capacity + 1024);
  }

  add(key: Uint8Array, value: Uint8Array): void {
    let shared = 0;
    const last = this.last;
    if (this.count % RESTART_INTERVAL === 0) {
      this.restarts.push(this.out.pos);
      this.first ??= key;
    } else if (last) {
      const n = Math.min(last.length, key.length);
      while (shared < n && last[shared] === key[shared]) shared++;
    }
    const out = this.out;
    out.ensure(24 + key.length - shared + value.length);
    out.varint(shared);
    out.varint(key.length - shared);
    out.copy(key, shared);
    out.varint(value.length);
    out.copy(value, 0);
    this.last = key;
    this.count++;
  }

  /** Payload bytes so far, restart table included. */
  get size(): number {
    return this.out.pos + 4 * this.restarts.length + 4;
  }

  /** Appends the restart table and returns the payload; valid until reset. */
  payload(): Uint8Array {
    const out = this.out;
    out.ensure(4 * this.restarts.length + 4);
    for (const r of this.restarts) out.u32(r);
    out.u32(this.restarts.length);
    return out.view();
  }

  reset(): void {
    this.out.reset();
    this.restarts.length = 0;
    this.last = undefined;
    this.first = undefined;
    this.count = 0;
  }
}

/** Where a walk through a block is: the next entry's offset and the key decoded last. */
interface Cursor {
  pos: number;
  key: Uint8Array;
  keyLength: number;
}

// Lookups are synchronous once the block is loaded, so they can share one cursor.
const lookup: Cursor = { pos: 0, key: new Uint8Array(MAX_KEY_BYTES), keyLength: 0 };

/**
 * A verified block payload, searchable without decoding all of it. The restart table is read in
 * place, so wrapping a payload allocates nothing but this object: a lookup may search a block
 * read into a shared buffer and drop it (see ViewFileReader).
 */
export class DataBlock {
  /** Number of restarts. */
  private readonly restartCount: number;
  /** Where the entries end and the restart table begins. */
  private readonly end: number;

  constructor(
    /** Holds the payload in its first `byteLength` bytes (a larger buffer may be reused for it). */
    private readonly payload: Uint8Array,
    /** Entries in the block (from the index). */
    readonly count: number,
    /** The file and the block, for error messages. */
    readonly source: string,
    readonly what: string,
    readonly byteLength = payload.length,
  ) {
    const n =
      byteLength >= 4 && byteLength <= payload.length ? readU32(payload, byteLength - 4) : -1;
    const end = byteLength - 4 - 4 * n;
    if (n < 1 || end < 0 || n !== Math.ceil(count / RESTART_INTERVAL))
      throw this.fail(`has a bad restart table (${n} restarts for ${count} entries)`, byteLength);
    let previous = -1;
    for (let i = 0; i < n; i++) {
      const r = readU32(payload, end + 4 * i);
      if (r >= end || (i === 0 ? r !== 0 : r <= previous))
        throw this.fail(`restart ${i} points outside the block`, end + 4 * i);
      previous = r;
    }
    this.restartCount = n;
    this.end = end;
  }

  /** The same block over a copy of its payload: one that may outlive a shared or cached buffer. */
  copy(): DataBlock {
    const into = new Uint8Array(this.byteLength);
    this.copyTo(into);
    return new DataBlock(into, this.count, this.source, this.what);
  }

  /** Copies the payload to the start of `into` (at least byteLength long). */
  copyTo(into: Uint8Array): void {
    into.set(
      this.byteLength === this.payload.length
        ? this.payload
        : this.payload.subarray(0, this.byteLength),
    );
  }

  /** Offset of restart entry r (checked in the constructor). */
  private restart(r: number): number {
    return readU32(this.payload, this.end + 4 * r);
  }

  /** Whether the block's first key is `key` (the reader checks blocks against the index). */
  firstKeyIs(key: Uint8Array): boolean {
    return this.compareRestart(0, key, lookup) === 0;
  }

  /** The value under `key`, read by `read`, or undefined. */
  get<V>(key: Uint8Array, read: ValueReader<V>): V | undefined {
    const r = this.lastRestartAtOrBefore(key, lookup);
    if (r < 0) return undefined;
    const c = lookup;
    c.pos = this.restart(r);
    c.keyLength = 0;
    const stop = r + 1 < this.restartCount ? this.restart(r + 1) : this.end;
    while (c.pos < stop) {
      const valueLength = this.next(c);
      const order = compareRange(c.key, c.keyLength, key);
      if (order === 0) return read(this.payload, c.pos, c.pos + valueLength);
      if (order > 0) return undefined;
      c.pos += valueLength;
    }
    return undefined;
  }

  /**
   * Entries with key ≥ `from` (every entry when undefined), in order; keys are fresh copies, values
   * read by `read`.
   */
  *entries<V>(from: Uint8Array | undefined, read: ValueReader<V>): Generator<[Uint8Array, V]> {
    const c: Cursor = { pos: 0, key: new Uint8Array(MAX_KEY_BYTES), keyLength: 0 };
    const r = from ? Math.max(0, this.lastRestartAtOrBefore(from, c)) : 0;
    c.pos = this.restart(r);
    c.keyLength = 0;
    let seen = r * RESTART_INTERVAL;
    while (c.pos < this.end) {
      const valueLength = this.next(c);
      const valueStart = c.pos;
      c.pos += valueLength;
      seen++;
      if (from && compareRange(c.key, c.keyLength, from) < 0) continue;
      yield [c.key.slice(0, c.keyLength), read(this.payload, valueStart, valueStart + valueLength)];
    }
    if (seen !== this.count)
      throw this.fail(`holds ${seen} entries where the index says ${this.count}`, c.pos);
  }

  /** The last restart whose key is ≤ key, or -1 when key precedes the block. */
  private lastRestartAtOrBefore(key: Uint8Array, c: Cursor): number {
    if (this.compareRestart(0, key, c) > 0) return -1;
    let lo = 0;
    let hi = this.restartCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.compareRestart(mid, key, c) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Compares a restart entry's whole key (stored unshared) with `key`, in place. */
  private compareRestart(r: number, key: Uint8Array, c: Cursor): number {
    c.pos = this.restart(r);
    if (this.varint(c) !== 0) throw this.fail(`restart ${r} is prefix-compressed`, c.pos);
    const len = this.varint(c);
    const start = c.pos;
    if (start + len > this.end) throw this.fail('is cut short in a key', start);
    const p = this.payload;
    const n = len < key.length ? len : key.length;
    for (let j = 0; j < n; j++) {
      const d = p[start + j]! - key[j]!;
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return len < key.length ? -1 : len > key.length ? 1 : 0;
  }

  /**
   * Decodes the entry's key at c.pos into c.key (on top of the previous key); returns the value
   * length, c.pos at the value.
   */
  private next(c: Cursor): number {
    const shared = this.varint(c);
    const suffix = this.varint(c);
    if (shared > c.keyLength)
      throw this.fail(`shares ${shared} bytes with a ${c.keyLength}-byte previous key`, c.pos);
    if (shared + suffix > MAX_KEY_BYTES || c.pos + suffix > this.end)
      throw this.fail('has a key that is too long or cut short', c.pos);
    const p = this.payload;
    const k = c.key;
    for (let j = 0; j < suffix; j++) k[shared + j] = p[c.pos + j]!;
    c.pos += suffix;
    c.keyLength = shared + suffix;
    const valueLength = this.varint(c);
    if (c.pos + valueLength > this.end) throw this.fail('is cut short in a value', c.pos);
    return valueLength;
  }

  private varint(c: Cursor): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8 && c.pos < this.end; i++) {
      const b = this.payload[c.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    throw this.fail('has a bad length field', c.pos);
  }

  private fail(why: string, at: number) {
    return corrupt(this.source, `${this.what} ${why} (at byte ${at} of its payload)`);
  }
}

function compareRange(a: Uint8Array, len: number, key: Uint8Array): number {
  const n = len < key.length ? len : key.length;
  for (let j = 0; j < n; j++) {
    const d = a[j]! - key[j]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return len < key.length ? -1 : len > key.length ? 1 : 0;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
