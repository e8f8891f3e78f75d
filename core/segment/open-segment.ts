/**
 * A SegmentReader over an object in the store, reading by byte range.
 *
 *   const reader = await openSegment(store, 'master/pv/dt=2026-01-05/…seg');          // one stat + one footer read
 *   const reader = await openSegment(store, key, { size: entry.size });               // size known from a listing: one read
 */
import { StrataError } from '../errors.ts';
import type { ObjectStore } from '../store/store.ts';
import { SegmentReader, readFooter } from './segment-reader.ts';
import type { SegmentFooter } from './segment-format.ts';

export interface OpenSegmentOptions {
  /** The object's size, when a listing already gave it. */
  size?: number;
  /** Bytes per read when iterating blocks. */
  readBytes?: number;
}

export async function openSegment(
  store: ObjectStore,
  key: string,
  options: OpenSegmentOptions = {},
): Promise<SegmentReader> {
  const size = options.size ?? (await sizeOf(store, key));
  return SegmentReader.open(rangeReader(store, key), size, {
    key,
    ...(options.readBytes ? { readBytes: options.readBytes } : {}),
  });
}

/** Only the footer: record count, time bounds, block table. */
export async function readSegmentFooter(
  store: ObjectStore,
  key: string,
  size?: number,
): Promise<SegmentFooter> {
  return readFooter(rangeReader(store, key), size ?? (await sizeOf(store, key)), key);
}

function rangeReader(store: ObjectStore, key: string) {
  return (offset: number, length: number) =>
    store.get(key, { start: offset, end: offset + length });
}

async function sizeOf(store: ObjectStore, key: string): Promise<number> {
  const info = await store.stat(key);
  if (!info)
    throw new StrataError(
      'STRATA_E_STORE_NOT_FOUND',
      `no segment at ${key}; list the dataset's segments with listSegments or strata datasets`,
      { details: { key } },
    );
  return info.size;
}
