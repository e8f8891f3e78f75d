/**
 * What a dataset holds, from segment footers alone (one small range read per segment, a few in
 * parallel): no record is decoded.
 *
 *   const s = await datasetStats(store, 'pageviews');
 *   s.records; s.segments; s.bytes; s.minTime; s.maxTime   // exact
 *
 * No statistics are cached beside the segments: footers are a few KiB at the end of each segment,
 * so reading them is cheap, and a cache would be one more thing that could disagree with the data.
 */
import type { ObjectStore } from '../store/store.ts';
import { readSegmentFooter } from '../segment/open-segment.ts';
import type { SegmentFooter } from '../segment/segment-format.ts';
import type { DateRange } from './dataset-layout.ts';
import { listSegments, type SegmentEntry } from './list-segments.ts';

export interface DatasetStats {
  name: string;
  records: number;
  segments: number;
  /** Bytes of the segments in the store. */
  bytes: number;
  /** Earliest and latest event time (ms since the epoch), null for a dataset with no records. */
  minTime: number | null;
  maxTime: number | null;
  /** First and last day folder. */
  firstDate: string | null;
  lastDate: string | null;
}

export interface SegmentWithFooter extends SegmentEntry {
  footer: SegmentFooter;
}

const FOOTER_READS_IN_FLIGHT = 16;

/** Every segment of the dataset (pruned by date) with its footer. */
export async function listSegmentsWithFooters(
  store: ObjectStore,
  dataset: string,
  range: DateRange = {},
  keep: (s: SegmentEntry) => boolean = () => true,
): Promise<SegmentWithFooter[]> {
  const segments = (await listSegments(store, dataset, range)).filter(keep);
  return mapLimit(segments, FOOTER_READS_IN_FLIGHT, async (s) => ({
    ...s,
    footer: await readSegmentFooter(store, s.key, s.size),
  }));
}

export async function datasetStats(
  store: ObjectStore,
  name: string,
  range: DateRange = {},
): Promise<DatasetStats> {
  const segments = await listSegmentsWithFooters(store, name, range);
  const stats: DatasetStats = {
    name,
    records: 0,
    segments: segments.length,
    bytes: 0,
    minTime: null,
    maxTime: null,
    firstDate: null,
    lastDate: null,
  };
  for (const s of segments) {
    stats.records += s.footer.records;
    stats.bytes += s.size;
    if (s.footer.minTime !== null && (stats.minTime === null || s.footer.minTime < stats.minTime))
      stats.minTime = s.footer.minTime;
    if (s.footer.maxTime !== null && (stats.maxTime === null || s.footer.maxTime > stats.maxTime))
      stats.maxTime = s.footer.maxTime;
  }
  stats.firstDate = segments[0]?.date ?? null;
  stats.lastDate = segments.at(-1)?.date ?? null;
  return stats;
}

/** Like Promise.all(items.map(fn)) with at most `limit` calls in flight; keeps order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
