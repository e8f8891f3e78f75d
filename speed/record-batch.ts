/**
 * One ingest request's records, parsed and checked before anything is queued: all of them are
 * good, or the request is refused with the first bad one named (0-based index, and the line for
 * NDJSON) and nothing of it is stored.
 *
 *   const batch = parseRecordBatch(body, 'ndjson', { timeField: 'time' });
 *   batch.records[0]; batch.times[0];   // the record and its event time (ms)
 *   // STRATA_E_RECORD_INVALID: 'record 2 (line 3): time field "time" is missing; …'
 *
 * The event time rule is the one of `strata ingest` (core/dataset/event-time.ts). With
 * `defaultTime` a record without the time field gets that time (the ingest time) written into
 * the field, so the batch and realtime layers read the same value later.
 */
import { eventTimeOf, explainBadEventTime } from '../core/dataset/event-time.ts';
import { StrataError } from '../core/errors.ts';

export type BodyFormat = 'ndjson' | 'json';

export interface RecordBatch {
  records: Record<string, unknown>[];
  /** Event time of each record, ms since the epoch. */
  times: ArrayLike<number>;
  timeField: string;
}

export interface RecordBatchOptions {
  /** The record field with the event time. */
  timeField: string;
  /** Time given to records that lack the field (ms); without it such a record is refused. */
  defaultTime?: number;
}

const FIELD_NAME = /^[^\0]{1,256}$/;

/** `body` is the request text for NDJSON, or the parsed JSON value for application/json. */
export function parseRecordBatch(
  body: unknown,
  format: BodyFormat,
  options: RecordBatchOptions,
): RecordBatch {
  if (!FIELD_NAME.test(options.timeField))
    throw usage(`timeField ${JSON.stringify(options.timeField)} is not a field name`);
  const records: Record<string, unknown>[] = [];
  const lines: number[] | undefined = format === 'ndjson' ? [] : undefined;
  if (format === 'ndjson') parseNdjson(String(body ?? ''), records, lines!);
  else {
    if (!Array.isArray(body))
      throw usage(
        `an application/json body must be an array of records ([{…}, {…}]), got ${describe(body)}; for one record per line use Content-Type: application/x-ndjson`,
      );
    for (let i = 0; i < body.length; i++) {
      const r: unknown = body[i];
      if (!isObject(r)) throw invalid(i, undefined, `${describe(r)}, not a JSON object`);
      records.push(r);
    }
  }
  if (records.length === 0)
    throw usage(
      'the request holds no records; send one JSON object per line (application/x-ndjson) or an array of objects (application/json)',
    );
  const times = new Array<number>(records.length);
  const field = options.timeField;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const value = record[field];
    let time = eventTimeOf(value);
    if (time !== time && value === undefined && options.defaultTime !== undefined) {
      time = options.defaultTime;
      record[field] = time;
    }
    if (time !== time) {
      const hint =
        value === undefined
          ? `; name the field that holds each record's event time with ?timeField=<field>, or add ?defaultTime=now to stamp records that lack it with the ingest time`
          : '; every record needs an ISO-8601 time with a time zone (e.g. "2026-01-05T10:00:00Z") or epoch milliseconds';
      throw invalid(i, lines?.[i], `time field "${field}" ${explainBadEventTime(value)}${hint}`, {
        field,
        value: safeValue(value),
      });
    }
    times[i] = time;
  }
  return { records, times, timeField: field };
}

function parseNdjson(text: string, records: Record<string, unknown>[], lines: number[]): void {
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--;
    if (stop > start) {
      const s = text.slice(start, stop);
      let value: unknown;
      try {
        value = JSON.parse(s);
      } catch (err) {
        if (s.trim() !== '')
          throw invalid(
            records.length,
            line,
            `not valid JSON (${(err as Error).message}): ${excerpt(s)}`,
          );
      }
      if (value !== undefined) {
        if (!isObject(value))
          throw invalid(
            records.length,
            line,
            `${describe(value)}, not a JSON object; each line must hold one record such as {"time": "…", …}`,
          );
        records.push(value);
        lines.push(line);
      }
    }
    start = end + 1;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function invalid(
  index: number,
  line: number | undefined,
  problem: string,
  extra: Record<string, unknown> = {},
): StrataError {
  const where = `record ${index}${line !== undefined ? ` (line ${line})` : ''}`;
  return new StrataError(
    'STRATA_E_RECORD_INVALID',
    `${where}: ${problem}; nothing of this request was stored`,
    {
      details: { index, ...(line !== undefined ? { line } : {}), ...extra },
    },
  );
}

function usage(message: string): StrataError {
  return new StrataError('STRATA_E_USAGE', message);
}

function excerpt(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function safeValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'string' && value.length > 200) return `${value.slice(0, 200)}…`;
  return typeof value === 'object' ? JSON.stringify(value)?.slice(0, 200) : value;
}
