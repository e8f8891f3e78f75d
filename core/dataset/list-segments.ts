/**
 * Listing the master dataset: datasets, and the segments of one dataset pruned by date.
 *
 *   await listDatasets(store);                                                   // ['pageviews', 'ticks']
 *   const segs = await listSegments(store, 'pageviews', { from: '2026-01-01', to: '2026-01-31' });
 *   segs[0]   // { key, date: '2026-01-01', seq, sha256, size, modified, bucket? }
 *
 * Segments come in append order within a day and days in order, i.e. key order. Pruning uses the
 * `dt=` folder alone (no segment is opened); the narrowest common key prefix of the range is
 * listed. Footer statistics are read on request (readSegmentFooter, datasetStats).
 */
import { StrataError } from '../errors.ts';
import type { ObjectStore } from '../store/store.ts';
import {
  checkDateRange,
  datasetPrefix,
  parseSegmentKey,
  type DateRange,
} from './dataset-layout.ts';
import { isDatasetName } from './dataset-name.ts';

export interface SegmentEntry {
  key: string;
  dataset: string;
  date: string;
  seq: string;
  sha256: string;
  /** The realtime bucket of the speed commit that wrote the segment; absent for file ingests. */
  bucket?: number;
  size: number;
  modified: number;
}

/**
 * The committed segments of a dataset whose day lies in [from, to] (both inclusive, YYYY-MM-DD).
 * STRATA_E_DATASET_NOT_FOUND when the dataset has no segment at all; STRATA_E_DATE_RANGE for a
 * malformed or inverted range. A range that matches no day gives [].
 */
export async function listSegments(
  store: ObjectStore,
  dataset: string,
  range: DateRange = {},
): Promise<SegmentEntry[]> {
  const { from, to } = checkDateRange(range);
  const base = datasetPrefix(dataset);
  const prefix =
    from !== undefined && to !== undefined
      ? `${base}${commonPrefix(`dt=${from}/`, `dt=${to}/`)}`
      : base;
  const out: SegmentEntry[] = [];
  for await (const info of store.list(prefix)) {
    const name = parseSegmentKey(info.key);
    if (!name || name.dataset !== dataset) continue; // not a segment (a stray file): never read as data
    if ((from !== undefined && name.date < from) || (to !== undefined && name.date > to)) continue;
    out.push({ key: info.key, ...name, size: info.size, modified: info.modified });
  }
  if (out.length === 0 && !(await datasetExists(store, dataset))) {
    throw new StrataError(
      'STRATA_E_DATASET_NOT_FOUND',
      `dataset ${JSON.stringify(dataset)} has no segments in ${store.url}; ingest some with \`strata ingest <file> --dataset ${dataset}\` or list them with \`strata datasets\``,
      {
        details: { dataset },
      },
    );
  }
  return out;
}

export async function datasetExists(store: ObjectStore, dataset: string): Promise<boolean> {
  for await (const info of store.list(datasetPrefix(dataset)))
    if (parseSegmentKey(info.key)) return true;
  return false;
}

/** Names of the datasets that have at least one segment, sorted. */
export async function listDatasets(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>();
  for await (const info of store.list('master/')) {
    const name = info.key.split('/')[1];
    if (name !== undefined && !names.has(name) && isDatasetName(name) && parseSegmentKey(info.key))
      names.add(name);
  }
  return [...names].sort();
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}
