/**
 * Tuple keys and their order-preserving byte encoding: byte order of `encodeKey` is tuple order.
 *
 *   const k = encodeKey(['/home', 2026]);            // Uint8Array
 *   decodeKey(k);                                     // ['/home', 2026]
 *   compareKeys(['/a', 1], ['/a', 'x']) < 0;          // numbers sort before strings
 *   const { start, end } = prefixRange(['/home']);     // every key ['/home', …] lies in [start, end)
 *
 * Glossary
 * - key part: a string or a finite number. A key (tuple) is a non-empty array of parts.
 * - tuple order: element by element; numbers before strings; numbers by value (-0 is 0); strings
 *   by Unicode code point; a tuple that is a prefix of a longer one sorts first.
 *
 * Encoding (after FoundationDB's tuple layer), one element after another, no length prefix:
 * - number: 0x21, then the float64 big-endian with the sign bit flipped (all bits for negatives),
 *   so unsigned byte order is numeric order.
 * - string: 0x40, the UTF-8 bytes with each 0x00 written as 0x00 0xFF, then a 0x00 terminator.
 * Both tags are below 0xFF and the terminator is 0x00, so a shorter string and a prefix tuple both
 * sort first, and the encoding of a prefix tuple is a byte prefix of every extension's encoding.
 * An encoded key is at most MAX_KEY_BYTES long. Strings must be well-formed Unicode (no lone
 * surrogates): UTF-8 cannot carry them, and they would break either the round trip or the order.
 *
 * Pure and dependency-free: `jobs/` and user bundles import it.
 */

import { StrataError } from '../errors.ts';

export type KeyPart = string | number;
export type Key = readonly KeyPart[];

/** The largest encoded key, in bytes. */
export const MAX_KEY_BYTES = 4096;

const NUMBER_TAG = 0x21;
const STRING_TAG = 0x40;
const ESCAPE = 0xff;

// Scratch space for one key: encoding is synchronous, so one buffer per thread is enough.
// The slack lets the loops check the limit once per character instead of once per byte.
const scratch = new Uint8Array(MAX_KEY_BYTES + 16);
const scratchView = new DataView(scratch.buffer);
const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);
// fatal: bytes that are not UTF-8 are an error, not U+FFFD; ignoreBOM: a leading U+FEFF is data.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes a key tuple; STRATA_E_KEY_INVALID names the bad element when it cannot. */
export function encodeKey(key: Key): Uint8Array {
  if (!Array.isArray(key))
    throw invalid(
      `a key must be an array (a tuple) of strings and finite numbers, got ${describe(key)}`,
      key,
    );
  if (key.length === 0)
    throw invalid(
      'a key must have at least one element, got []: use e.g. [url] or [url, hour]',
      key,
    );
  let pos = 0;
  for (let i = 0; i < key.length; i++) {
    const part: unknown = key[i];
    if (typeof part === 'number') {
      if (!Number.isFinite(part)) throw badPart(key, i);
      if (pos + 9 > scratch.length) throw tooLong(key);
      scratch[pos] = NUMBER_TAG;
      scratchView.setFloat64(pos + 1, part === 0 ? 0 : part);
      if (scratch[pos + 1]! & 0x80)
        for (let j = pos + 1; j < pos + 9; j++) scratch[j] = ~scratch[j]! & 0xff;
      else scratch[pos + 1] = scratch[pos + 1]! | 0x80;
      pos += 9;
    } else if (typeof part === 'string') {
      if (part.length + pos + 2 > scratch.length) throw tooLong(key);
      scratch[pos++] = STRING_TAG;
      pos = writeString(part, pos, key, i);
      scratch[pos++] = 0;
    } else {
      throw badPart(key, i);
    }
  }
  if (pos > MAX_KEY_BYTES) throw tooLong(key);
  return scratch.slice(0, pos);
}

function writeString(s: string, pos: number, key: Key, index: number): number {
  const limit = scratch.length - 5;
  for (let i = 0; i < s.length; i++) {
    if (pos > limit) throw tooLong(key);
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) {
        scratch[pos++] = 0;
        scratch[pos++] = ESCAPE;
      } else {
        scratch[pos++] = c;
      }
    } else if (c < 0x800) {
      scratch[pos++] = 0xc0 | (c >> 6);
      scratch[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) {
        throw invalid(
          `key element ${index} is a string with a lone UTF-16 surrogate (\\u${c.toString(16)}) at index ${i}: keys must be well-formed Unicode; fix how the string was built or decoded`,
          key,
          index,
        );
      }
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      scratch[pos++] = 0xf0 | (cp >> 18);
      scratch[pos++] = 0x80 | ((cp >> 12) & 0x3f);
      scratch[pos++] = 0x80 | ((cp >> 6) & 0x3f);
      scratch[pos++] = 0x80 | (cp & 0x3f);
      i++;
    } else {
      scratch[pos++] = 0xe0 | (c >> 12);
      scratch[pos++] = 0x80 | ((c >> 6) & 0x3f);
      scratch[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/** Decodes bytes made by encodeKey; STRATA_E_KEY_INVALID when they are not an encoded key. */
export function decodeKey(bytes: Uint8Array): KeyPart[] {
  if (bytes.length === 0) throw notEncoded(bytes, 0, 'it is empty');
  const out: KeyPart[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos]!;
    if (tag === NUMBER_TAG) {
      if (pos + 9 > bytes.length) throw notEncoded(bytes, pos, 'a number is cut short');
      const neg = (bytes[pos + 1]! & 0x80) === 0;
      for (let j = 0; j < 8; j++)
        floatBytes[j] = neg ? ~bytes[pos + 1 + j]! & 0xff : bytes[pos + 1 + j]!;
      if (!neg) floatBytes[0] = floatBytes[0]! & 0x7f;
      const n = floatView.getFloat64(0);
      if (!Number.isFinite(n)) throw notEncoded(bytes, pos, 'a number is not finite');
      out.push(n);
      pos += 9;
    } else if (tag === STRING_TAG) {
      pos = readString(bytes, pos + 1, out);
    } else {
      throw notEncoded(bytes, pos, `unknown tag 0x${tag.toString(16)}`);
    }
  }
  return out;
}

function readString(bytes: Uint8Array, start: number, out: KeyPart[]): number {
  // Find the terminator: a 0x00 not followed by the 0xFF that marks an escaped NUL.
  let pos = start;
  let escapes = 0;
  for (;;) {
    if (pos >= bytes.length) throw notEncoded(bytes, start, 'a string has no terminator');
    if (bytes[pos] === 0) {
      if (bytes[pos + 1] !== ESCAPE) break;
      escapes++;
      pos++;
    }
    pos++;
  }
  let utf8 = bytes.subarray(start, pos);
  if (escapes > 0) {
    const plain = new Uint8Array(utf8.length - escapes);
    for (let i = 0, j = 0; i < utf8.length; i++) {
      plain[j++] = utf8[i]!;
      if (utf8[i] === 0) i++;
    }
    utf8 = plain;
  }
  try {
    out.push(utf8.length === 0 ? '' : utf8Decoder.decode(utf8));
  } catch {
    throw notEncoded(bytes, start, 'a string is not valid UTF-8');
  }
  return pos + 1;
}

/**
 * Tuple order (see the glossary): negative, 0 or positive; always the sign of compareBytes on the
 * encodings.
 */
export function compareKeys(a: Key, b: Key): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (typeof x === 'number') {
      if (typeof y !== 'number') return -1;
      if (x < y) return -1;
      if (x > y) return 1;
    } else {
      if (typeof y === 'number') return 1;
      const c = compareStrings(x, y);
      if (c !== 0) return c;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Compares by code point (= UTF-8 byte order), not by UTF-16 unit as `<` does. */
export function compareStrings(x: string, y: string): number {
  if (x === y) return 0;
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    let cx = x.charCodeAt(i);
    let cy = y.charCodeAt(i);
    if (cx === cy) continue;
    // Surrogates (astral code points) must sort after U+E000..U+FFFF: shift both ranges.
    if (cx >= 0xd800 && cy >= 0xd800) {
      cx = cx >= 0xe000 ? cx - 0x800 : cx + 0x2000;
      cy = cy >= 0xe000 ? cy - 0x800 : cy + 0x2000;
    }
    return cx < cy ? -1 : 1;
  }
  return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
}

/** Unsigned lexicographic byte order: -1, 0 or 1. */
/** A Map key for encoded key bytes: one char per byte, and `<` on such strings is byte order. */
export function keyId(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The encoded key bytes back from a keyId. */
export function keyBytes(id: string): Buffer {
  return Buffer.from(id, 'latin1');
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** A scalar becomes a 1-tuple; a tuple is checked (types, Unicode, size) and -0 becomes 0. */
export function toKey(k: KeyPart | Key): Key {
  const key: Key = Array.isArray(k) ? (k as Key) : [k as KeyPart];
  encodeKey(key); // validates everything, including the encoded size
  return key.some((p) => Object.is(p, -0)) ? key.map((p) => (p === 0 ? 0 : p)) : key;
}

/**
 * The byte range [start, end) holding exactly the keys that extend `prefix` (the prefix itself
 * included). Strings end in 0x00 and the next element's tag is below 0xFF, while a longer string
 * continues with 0x00 0xFF: so `encode(prefix) + 0xFF` separates ['a', …] from ['a\0…']. The empty
 * prefix is every key: start is empty and end undefined.
 */
export function prefixRange(prefix: Key): { start: Uint8Array; end: Uint8Array | undefined } {
  if (Array.isArray(prefix) && prefix.length === 0)
    return { start: new Uint8Array(0), end: undefined };
  const start = encodeKey(prefix);
  const end = new Uint8Array(start.length + 1);
  end.set(start);
  end[start.length] = ESCAPE;
  return { start, end };
}

/** A short, readable rendering of a key for error messages and logs. */
export function formatKey(key: Key | Uint8Array): string {
  if (key instanceof Uint8Array) {
    try {
      return formatKey(decodeKey(key));
    } catch {
      return `<${key.length} bytes: ${Array.from(key.subarray(0, 24), (b) => b.toString(16).padStart(2, '0')).join('')}${key.length > 24 ? '…' : ''}>`;
    }
  }
  const text = JSON.stringify(key) ?? String(key);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `the bigint ${v}n (use Number(x) or String(x))`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') {
    if (v instanceof Date) return 'a Date (use d.getTime() or d.toISOString())';
    return Array.isArray(v)
      ? 'an array (keys are flat tuples)'
      : `an object (${v.constructor?.name ?? 'Object'})`;
  }
  return `${typeof v === 'undefined' ? '' : 'a '}${typeof v}`;
}

function badPart(key: Key, index: number): StrataError {
  const part: unknown = key[index];
  const what = typeof part === 'number' ? `the non-finite number ${part}` : describe(part);
  return invalid(
    `key element ${index} is ${what}: key elements must be strings or finite numbers`,
    key,
    index,
  );
}

function tooLong(key: Key): StrataError {
  return invalid(
    `key is longer than ${MAX_KEY_BYTES} bytes when encoded: shorten its strings (e.g. hash long URLs)`,
    key,
  );
}

function invalid(message: string, key: unknown, index?: number): StrataError {
  const details: Record<string, unknown> = { key: safeForDetails(key) };
  if (index !== undefined) details.index = index;
  return new StrataError('STRATA_E_KEY_INVALID', message, { details });
}

function notEncoded(bytes: Uint8Array, pos: number, why: string): StrataError {
  return new StrataError(
    'STRATA_E_KEY_INVALID',
    `bytes are not an encoded key: ${why} at byte ${pos} of ${bytes.length}`,
    {
      details: { length: bytes.length, position: pos },
    },
  );
}

// Details must survive toJSON across threads: keep only plain, short renderings.
function safeForDetails(key: unknown): unknown {
  if (!Array.isArray(key)) return describe(key);
  return key
    .slice(0, 8)
    .map((p) =>
      typeof p === 'string'
        ? p.length > 80
          ? `${p.slice(0, 80)}…`
          : p
        : typeof p === 'number'
          ? Number.isFinite(p)
            ? p
            : String(p)
          : describe(p),
    );
}
