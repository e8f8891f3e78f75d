/**
 * The object store contract: one interface, two backends (file:// and s3://), chosen by URL.
 *
 *   const store = await openStore('file:///tmp/strata');
 *   await store.put('master/pv/dt=2026-01-01/1-ab.seg', bytes);         // create-only
 *   const head = await store.get('master/pv/dt=2026-01-01/1-ab.seg', { start: 0, end: 16 });
 *   for await (const o of store.list('master/pv/')) console.log(o.key, o.size);
 *
 * Glossary
 * - key: a relative, '/'-separated path such as `views/pageviews/v3/part-0.sv`: no leading '/', no
 * empty,
 *   '.' or '..' segment, no backslash or NUL, at most 1024 bytes (STRATA_E_STORE_KEY otherwise; store-rules.ts).
 * - immutable key: anything under `master/`, `code/`, or `views/<view>/<version>/`. Written once,
 *   never overwritten: the store itself refuses (STRATA_E_STORE_EXISTS / _IMMUTABLE).
 * - pointer: a small mutable object such as `views/<view>/_CURRENT`; written with `{ overwrite:
 * true }`.
 * - deletable key: under `tmp/` (in-flight work) or `views/<view>/<version>/` (derived data: a
 *   version is recomputable from master/ and code/, and retention deletes old ones, see
 *   core/views/view-retention.ts). Nothing under `master/` or `code/`, and no pointer, is ever
 *   deleted: the store refuses (STRATA_E_STORE_IMMUTABLE).
 *
 * Writes are atomic: a reader sees the whole object or nothing, never a prefix of it.
 */

export interface ObjectInfo {
  key: string;
  size: number;
  /** Milliseconds since the epoch. */
  modified: number;
}

/**
 * Inclusive start, exclusive end, like Array.slice. `end` omitted means to the end of the object.
 * A range reaching past the end is cut to the object (a start at or past the end reads nothing);
 * negative, fractional or inverted ranges fail with STRATA_E_STORE_RANGE.
 */
export interface ByteRange {
  start: number;
  end?: number;
}

export type PutBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /**
   * Replace an existing object. Only allowed for keys that are not immutable (see isImmutableKey).
   */
  overwrite?: boolean;
}

export interface ObjectStore {
  /** The URL this store was opened with, secrets removed. */
  readonly url: string;
  /**
   * Writes an object atomically. Create-only unless `overwrite` (STRATA_E_STORE_EXISTS otherwise).
   * Streams bodies of any size.
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo>;
  /** Reads a whole object or a byte range into memory. STRATA_E_STORE_NOT_FOUND when absent. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  /**
   * Streams an object or a byte range without holding it whole in memory. A missing key rejects
   * here, not during iteration.
   */
  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>>;
  /**
   * Writes a whole object to a local file (created or replaced) without holding it in memory: a
   * kernel copy on file://, a streamed GET on s3://. STRATA_E_STORE_NOT_FOUND when absent;
   * STRATA_E_STORE_IO naming the file when it cannot be written. A failed download leaves no file.
   */
  download(key: string, file: string): Promise<ObjectInfo>;
  /** Size and time of an object, or undefined when absent. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, '' for all), in byte order
   * of the keys' UTF-8, as S3 lists.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Create-only server-side copy (hard link on file://, CopyObject on s3://): how staged tmp/
   * output is committed.
   */
  copy(fromKey: string, toKey: string): Promise<ObjectInfo>;
  /**
   * Deletes an object under `tmp/` or `views/<view>/<version>/` (STRATA_E_STORE_IMMUTABLE
   * elsewhere, see isDeletableKey). Deleting an absent key is not an error.
   */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

const IMMUTABLE = [/^master\//, /^code\//, /^views\/[^/]+\/[^/]+\//];

/** True for keys that may be written once and never overwritten. */
export function isImmutableKey(key: string): boolean {
  return IMMUTABLE.some((re) => re.test(key));
}

const DELETABLE = [/^tmp\//, /^views\/[^/]+\/[^/]+\//];

/**
 * True for keys that may be deleted: in-flight work under tmp/ and view versions' files; never
 * master/ or code/.
 */
export function isDeletableKey(key: string): boolean {
  return DELETABLE.some((re) => re.test(key));
}
