/**
 * The rules every store backend applies before touching data, so file:// and s3:// accept and
 * refuse exactly the same keys, ranges, overwrites and deletes.
 *
 *   assertKey('views/pv/_CURRENT');        // fine
 *   assertKey('../etc/passwd');            // throws STRATA_E_STORE_KEY
 *   clampRange({ start: 10 }, 4);          // { start: 4, end: 4 }: empty, as Array.slice would give
 *   assertOverwritable('master/x.seg');    // throws STRATA_E_STORE_IMMUTABLE
 */
import { StrataError } from '../errors.ts';
import { isDeletableKey, isImmutableKey, type ByteRange } from './store.ts';

/** The local store keeps in-flight writes here; no key may live under it on any backend. */
export const PARTIAL_DIR = '.partial';

const MAX_KEY_BYTES = 1024; // S3's limit on an object name
const MAX_SEGMENT_BYTES = 255; // a file name on every common file system

/**
 * Throws STRATA_E_STORE_KEY unless `key` is a relative, '/'-separated path with no empty, '.' or
 * '..' segment.
 */
export function assertKey(key: string, role = 'key'): void {
  if (typeof key !== 'string' || key.length === 0)
    throw keyError(key, role, 'it is empty; use a relative path such as master/<dataset>/…');
  checkPath(key, role, false);
}

/** Like assertKey, but '' (everything) and a trailing '/' or a partial last segment are fine. */
export function assertPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw keyError(prefix, 'prefix', 'it is not a string');
  if (prefix.length > 0) checkPath(prefix, 'prefix', true);
}

function checkPath(key: string, role: string, isPrefix: boolean): void {
  if (key.startsWith('/'))
    throw keyError(key, role, "it starts with '/'; keys are relative, drop the leading slash");
  if (key.includes('\\'))
    throw keyError(key, role, "it contains a backslash; separate segments with '/'");
  if (key.includes('\0')) throw keyError(key, role, 'it contains a NUL character');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw keyError(key, role, `it is longer than ${MAX_KEY_BYTES} bytes`);
  const segments = key.split('/');
  if (isPrefix) segments.pop(); // the last piece of a prefix may be partial or empty
  segments.forEach((segment, i) => {
    if (segment === '')
      throw keyError(key, role, "it has an empty segment ('//' or a trailing '/')");
    if (segment === '.' || segment === '..')
      throw keyError(
        key,
        role,
        `it has a '${segment}' segment; keys name objects, not relative paths`,
      );
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)
      throw keyError(
        key,
        role,
        `its segment ${JSON.stringify(segment.slice(0, 40))}… is longer than ${MAX_SEGMENT_BYTES} bytes`,
      );
    if (i === 0 && segment === PARTIAL_DIR)
      throw keyError(key, role, `'${PARTIAL_DIR}/' is reserved for in-flight writes`);
  });
}

function keyError(key: unknown, role: string, why: string): StrataError {
  return new StrataError(
    'STRATA_E_STORE_KEY',
    `store ${role} ${JSON.stringify(key)} is invalid: ${why}`,
    { details: { key } },
  );
}

/** Throws STRATA_E_STORE_IMMUTABLE when `key` may never be replaced (see isImmutableKey). */
export function assertOverwritable(key: string): void {
  if (isImmutableKey(key)) {
    throw new StrataError(
      'STRATA_E_STORE_IMMUTABLE',
      `refusing to overwrite ${key}: keys under master/, code/ and views/<view>/<version>/ are written once; write a new key (a new segment or view version) instead`,
      { details: { key } },
    );
  }
}

/**
 * Throws STRATA_E_STORE_IMMUTABLE unless `key` is under tmp/ or views/<view>/<version>/ (see
 * isDeletableKey).
 */
export function assertDeletable(key: string): void {
  if (!isDeletableKey(key)) {
    throw new StrataError(
      'STRATA_E_STORE_IMMUTABLE',
      `refusing to delete ${key}: only keys under tmp/ and views/<view>/<version>/ may be deleted; master/ and code/ are never deleted, and a view's _CURRENT is moved, not deleted`,
      { details: { key } },
    );
  }
}

/** Throws STRATA_E_STORE_RANGE unless the range is whole numbers with 0 ≤ start ≤ end. */
export function assertRange(range: ByteRange | undefined, key: string): void {
  if (range === undefined) return;
  const { start, end } = range;
  const ok =
    Number.isSafeInteger(start) &&
    start >= 0 &&
    (end === undefined || (Number.isSafeInteger(end) && end >= start));
  if (!ok) {
    throw new StrataError(
      'STRATA_E_STORE_RANGE',
      `byte range ${JSON.stringify(range)} for ${key} is invalid: use whole numbers with 0 <= start <= end (end exclusive)`,
      {
        details: { key, range },
      },
    );
  }
}

/**
 * The range cut to the object's size, like Array.slice: a start past the end gives an empty range.
 */
export function clampRange(
  range: ByteRange | undefined,
  size: number,
): { start: number; end: number } {
  const end = Math.min(range?.end ?? size, size);
  const start = Math.min(range?.start ?? 0, end);
  return { start, end };
}
