/**
 * CSV with a header row, streamed with csv-parse.
 *
 *   for await (const { record, position } of readCsv(fs.createReadStream(path), { file: path })) …
 *
 * Types: CSV has none, so a column is numeric when every non-empty value in its first 1000 data
 * rows is a plain decimal number (`-12`, `3.5`, `1e3`; not `007`, `+1`, `0x1f`, or an integer
 * beyond 2^53, which would lose digits). Values of numeric columns become numbers; all others stay
 * strings, and a later value in a numeric column that is not a number is kept as its text, never
 * dropped. An empty cell leaves the field out of the record. So a time column of epoch
 * milliseconds arrives as numbers and one of ISO-8601 text as strings, both valid event times.
 */
import { Readable } from 'node:stream';
import { parse, type Info } from 'csv-parse';
import { StrataError } from '../../core/errors.ts';
import { describePosition, type InputRecord } from './input-record.ts';

export const CSV_SAMPLE_ROWS = 1000;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

type Row = { info: Info; record: Record<string, string> };

export async function* readCsv(
  bytes: AsyncIterable<Uint8Array>,
  options: { file: string },
): AsyncGenerator<InputRecord> {
  const parser = Readable.from(bytes, { objectMode: false }).pipe(
    parse({ columns: true, bom: true, skip_empty_lines: true, info: true }),
  );
  const rows = parser[Symbol.asyncIterator]() as AsyncIterator<Row>;
  let row = 0;
  let parsed = 0;
  const next = async (): Promise<Row | undefined> => {
    try {
      const r = await rows.next();
      if (r.done) return undefined;
      parsed++;
      return r.value;
    } catch (err) {
      throw csvError(err, options.file, parsed + 1);
    }
  };
  // Decide which columns are numeric from a sample, then stream the rest with the same rule.
  const sample: Row[] = [];
  for (let r = await next(); r; r = sample.length < CSV_SAMPLE_ROWS ? await next() : undefined)
    sample.push(r);
  const numeric = numericColumns(sample);
  const convert = (r: Row): InputRecord => ({
    record: toRecord(r.record, numeric),
    position: { row: ++row, line: r.info.lines },
  });
  for (const r of sample) yield convert(r);
  if (sample.length < CSV_SAMPLE_ROWS) return;
  for (let r = await next(); r; r = await next()) yield convert(r);
}

function isNumber(s: string): boolean {
  if (!NUMBER.test(s)) return false;
  const n = Number(s);
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n) || /[.eE]/.test(s));
}

function numericColumns(sample: Row[]): Set<string> {
  const seen = new Map<string, boolean>();
  for (const { record } of sample) {
    for (const [k, v] of Object.entries(record)) {
      if (v === '') continue;
      seen.set(k, (seen.get(k) ?? true) && isNumber(v));
    }
  }
  return new Set([...seen].filter(([, numeric]) => numeric).map(([k]) => k));
}

function toRecord(raw: Record<string, string>, numeric: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in raw) {
    const v = raw[k]!;
    if (v === '') continue;
    out[k] = numeric.has(k) && isNumber(v) ? Number(v) : v;
  }
  return out;
}

function csvError(err: unknown, file: string, row: number): StrataError {
  const e = err as Error & { code?: string; lines?: number; records?: number };
  // csv-parse counts the records it parsed, some of which may not have reached us yet.
  if (typeof e.records === 'number') row = e.records + 1;
  const position = describePosition(file, {
    row,
    ...(e.lines !== undefined ? { line: e.lines } : {}),
  });
  return new StrataError('STRATA_E_RECORD_INVALID', `${position} is not valid CSV: ${e.message}`, {
    cause: err,
    details: { file, row, line: e.lines, csvCode: e.code },
  });
}
