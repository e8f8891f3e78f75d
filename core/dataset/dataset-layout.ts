/**
 * Where a dataset's segments live in the store, and how their names sort.
 *
 *   segmentKey('pageviews', '2026-01-05', nextSequence(), sha)
 *     // 'master/pageviews/dt=2026-01-05/1767600000000000001-<sha256>.seg'        (strata ingest)
 *   segmentKey('pageviews', '2026-01-05', nextSequence(), sha, 29446201)
 *     // 'master/pageviews/dt=2026-01-05/1767600000000000001-b29446201-<sha256>.seg'  (speed layer)
 *   parseSegmentKey(key)  // { dataset, date, seq, sha256, bucket? }
 *
 * The sequence is 13 digits of milliseconds and 6 of a per-process counter, taken when a segment
 * is committed, so within a day folder key order is commit (append) order. The SHA-256 of the
 * segment's bytes makes the name unique across processes and lets anyone verify the content.
 * A record's day folder is the UTC date of its event time.
 *
 * A speed-layer segment also carries the realtime bucket of the commit that wrote it
 * (`-b<bucket>`, speed/commit-log.ts): the batch layer reads the segments whose bucket is at or
 * below the boundary it sealed, plus every segment without a bucket (file ingests).
 */
import { StrataError } from '../errors.ts';
import { assertDatasetName } from './dataset-name.ts';

const SEGMENT_KEY =
  /^master\/([a-z0-9][a-z0-9_-]{0,63})\/dt=(\d{4}-\d{2}-\d{2})\/(\d{19})-(?:b(0|[1-9]\d{0,14})-)?([0-9a-f]{64})\.seg$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

export interface SegmentName {
  dataset: string;
  /** UTC day of the segment's records, YYYY-MM-DD. */
  date: string;
  seq: string;
  sha256: string;
  /**
   * The realtime bucket of the speed commit that wrote it; absent for segments of `strata ingest`.
   */
  bucket?: number;
}

export function datasetPrefix(dataset: string): string {
  assertDatasetName(dataset);
  return `master/${dataset}/`;
}

export function segmentKey(
  dataset: string,
  date: string,
  seq: string,
  sha256: string,
  bucket?: number,
): string {
  if (bucket !== undefined && !(Number.isSafeInteger(bucket) && bucket >= 0))
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `segment bucket ${bucket} is not a non-negative integer`,
    );
  return `${datasetPrefix(dataset)}dt=${date}/${seq}-${bucket === undefined ? '' : `b${bucket}-`}${sha256}.seg`;
}

export function parseSegmentKey(key: string): SegmentName | undefined {
  const m = SEGMENT_KEY.exec(key);
  if (!m) return undefined;
  const name: SegmentName = { dataset: m[1]!, date: m[2]!, seq: m[3]!, sha256: m[5]! };
  if (m[4] !== undefined) name.bucket = Number(m[4]);
  return name;
}

let lastMs = 0;
let counter = 0;

/**
 * A fresh, zero-padded, increasing sequence: 13 digits of ms, 6 of counter (never goes back, even
 * if the clock does).
 */
export function nextSequence(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
  } else if (++counter > 999_999) {
    lastMs += 1;
    counter = 0;
  }
  return `${String(lastMs).padStart(13, '0')}${String(counter).padStart(6, '0')}`;
}

let cachedDay = NaN;
let cachedDate = '';

/** UTC date (YYYY-MM-DD) of an epoch-ms time; cached per day because records come in runs. */
export function utcDate(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
  }
  return cachedDate;
}

/** Checks a YYYY-MM-DD calendar date (STRATA_E_DATE_RANGE otherwise) and returns it. */
export function checkDate(date: string, what = 'date'): string {
  const m = DATE.exec(date);
  const t = m === null ? NaN : Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!);
  const ok = !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === date;
  if (!ok)
    throw new StrataError(
      'STRATA_E_DATE_RANGE',
      `${what} ${JSON.stringify(date)} is not a calendar date in the form YYYY-MM-DD (e.g. 2026-01-05)`,
      { details: { [what]: date } },
    );
  return date;
}

export interface DateRange {
  /** First day, inclusive, YYYY-MM-DD. */
  from?: string;
  /** Last day, inclusive, YYYY-MM-DD. */
  to?: string;
}

/** Validates a date range: each bound a calendar date, and from ≤ to. */
export function checkDateRange(range: DateRange): DateRange {
  if (range.from !== undefined) checkDate(range.from, 'from');
  if (range.to !== undefined) checkDate(range.to, 'to');
  if (range.from !== undefined && range.to !== undefined && range.from > range.to) {
    throw new StrataError(
      'STRATA_E_DATE_RANGE',
      `date range from ${range.from} to ${range.to} is inverted; "from" must not be after "to" (both are inclusive)`,
      { details: { ...range } },
    );
  }
  return range;
}
