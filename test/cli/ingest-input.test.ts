/**
 * The ingest input readers and the library pipeline, in process: NDJSON, CSV and Parquet records
 * come out with their positions; malformed input is rejected naming file, line or row, field and
 * value; ingestFile is all or nothing.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFile } from '../../cli/input/ingest-file.ts';
import type { InputRecord } from '../../cli/input/input-record.ts';
import { openInput } from '../../cli/input/open-input.ts';
import { readCsv } from '../../cli/input/csv-reader.ts';
import { readNdjson } from '../../cli/input/ndjson-reader.ts';
import { readParquet } from '../../cli/input/parquet-reader.ts';
import { RecordValidator } from '../../cli/input/record-validator.ts';
import { datasetStats } from '../../core/dataset/dataset-stats.ts';
import { listSegments } from '../../core/dataset/list-segments.ts';
import { isStrataError } from '../../core/errors.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The text as bytes cut into pieces of `size`, so lines and UTF-8 characters straddle chunks. */
async function* bytes(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function collect(gen: AsyncIterable<InputRecord>): Promise<InputRecord[]> {
  const out: InputRecord[] = [];
  for await (const r of gen) out.push(r);
  return out;
}

async function failure(
  run: () => Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

async function parquetFile(name: string, select: string, rowGroupSize = 1000): Promise<string> {
  const file = path.join(dir, name);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(
      `COPY (${select}) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupSize}, COMPRESSION zstd)`,
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return file;
}

describe('NDJSON reader', () => {
  it('yields each object with its 1-based line, across chunk edges, CRLF, blank lines, a BOM and multi-byte text', async () => {
    const text = '\ufeff{"a":1}\r\n\n  \n{"b":"héllo wörld ✓"}\n{"c":[1,2]}';
    const got = await collect(readNdjson(bytes(text, 3), { file: 'x.ndjson' }));
    expect(got).toEqual([
      { record: { a: 1 }, position: { line: 1 } },
      { record: { b: 'héllo wörld ✓' }, position: { line: 4 } },
      { record: { c: [1, 2] }, position: { line: 5 } },
    ]);
  });

  it('a line that is not a JSON object fails naming the file, the line and the JSON problem', async () => {
    const err = await failure(() =>
      collect(readNdjson(bytes('{"a":1}\n{"a":2,}\n'), { file: 'events.ndjson' })),
    );
    expect(err.code).toBe('STRATA_E_RECORD_INVALID');
    expect(err.message).toMatch(/^events\.ndjson line 2 is not valid JSON \(.+\): \{"a":2,\}$/);
    const err2 = await failure(() =>
      collect(readNdjson(bytes('{"a":1}\n[1,2]\n'), { file: 'e.ndjson' })),
    );
    expect(err2.message).toContain('e.ndjson line 2 is an array, not a JSON object');
  });
});

describe('CSV reader', () => {
  it('converts numeric columns (decided on a sample), keeps other columns as text and leaves empty cells out', async () => {
    const text =
      'time,price,zip,id,note\n1767225600000,1.5,02134,12345678901234567890,"a, ""quoted""\nline"\n1767225601000,-2e3,10001,1,\n';
    const got = await collect(readCsv(bytes(text, 5), { file: 't.csv' }));
    expect(got).toEqual([
      {
        record: {
          time: 1767225600000,
          price: 1.5,
          zip: '02134',
          id: '12345678901234567890',
          note: 'a, "quoted"\nline',
        },
        position: { row: 1, line: 3 },
      },
      {
        record: { time: 1767225601000, price: -2000, zip: '10001', id: '1' },
        position: { row: 2, line: 4 },
      },
    ]);
  });

  it('a value in a numeric column past the sample that is not a number is kept as text', async () => {
    const rows = Array.from({ length: 1200 }, (_, i) => `${i},${i === 1100 ? 'n/a' : i * 2}`);
    const got = await collect(readCsv(bytes(`a,b\n${rows.join('\n')}\n`, 4096), { file: 't.csv' }));
    expect(got).toHaveLength(1200);
    expect(got[5]!.record).toEqual({ a: 5, b: 10 });
    expect(got[1100]!.record).toEqual({ a: 1100, b: 'n/a' });
  });

  it('a row with the wrong number of fields fails naming the row and line', async () => {
    const err = await failure(() =>
      collect(readCsv(bytes('a,b\n1,2\n3,4,5\n'), { file: 'bad.csv' })),
    );
    expect(err.code).toBe('STRATA_E_RECORD_INVALID');
    expect(err.message).toMatch(/^bad\.csv row 2 \(line 3\) is not valid CSV: /);
  });
});

describe('Parquet reader', () => {
  it('reads every row group in order, with JSON-like values and 1-based rows', async () => {
    const file = await parquetFile(
      'ticks.parquet',
      `SELECT i AS id, TIMESTAMP '2026-01-01 00:00:00' + i * INTERVAL 1 SECOND AS time, 'S' || (i % 7) AS sym, i * 0.5 AS price,
              CAST(i AS INTEGER) AS qty, DATE '2026-01-02' AS day, {'a': i, 'b': [1, 2]} AS nested FROM range(2500) t(i)`,
    );
    const got = await collect(readParquet(file, { file: 'ticks.parquet' }));
    expect(got).toHaveLength(2500);
    expect(got.map((r) => r.position.row)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(got[1234]!.record).toEqual({
      id: 1234,
      time: '2026-01-01T00:20:34.000Z',
      sym: 'S2',
      price: 617,
      qty: 1234,
      day: '2026-01-02',
      nested: { a: 1234, b: [1, 2] },
    });
  });

  it('a file that is not Parquet fails with STRATA_E_INPUT_FORMAT', async () => {
    const file = path.join(dir, 'fake.parquet');
    await writeFile(file, '{"time": 1767225600000}\n'.repeat(10));
    const err = await failure(() => collect(readParquet(file, { file: 'fake.parquet' })));
    expect(err.code).toBe('STRATA_E_INPUT_FORMAT');
    expect(err.message).toContain('fake.parquet is not a Parquet file');
  });
});

describe('record validation', () => {
  it('names file, line, field and value; suggests --time-field when the field is missing from the start', () => {
    const v = new RecordValidator('e.ndjson', 'time');
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as Error & { code: string; details: unknown };
      }
      throw new Error('expected a failure');
    };
    const missing = err(() =>
      v.timeOf({ record: { ts: '2026-01-01T00:00:00Z', a: 1 }, position: { line: 1 } }),
    );
    expect(missing.code).toBe('STRATA_E_RECORD_INVALID');
    expect(missing.message).toMatch(
      /^e\.ndjson line 1: the time field "time" is missing .* try --time-field ts$/,
    );
    expect(v.timeOf({ record: { time: 1767225600000 }, position: { line: 2 } })).toBe(
      1767225600000,
    );
    const bad = err(() => v.timeOf({ record: { time: 1767225600 }, position: { line: 3 } }));
    expect(bad.message).toMatch(
      /^e\.ndjson line 3: time field "time" is 1767225600, which looks like epoch seconds/,
    );
    expect(bad.details).toEqual({ file: 'e.ndjson', line: 3, field: 'time', value: 1767225600 });
    const later = err(() => v.timeOf({ record: { other: 1 }, position: { line: 4 } }));
    expect(later.message).toMatch(
      /^e\.ndjson line 4: time field "time" is missing; every record needs/,
    );
  });
});

describe('ingestFile', () => {
  let store: ObjectStore;
  beforeAll(async () => {
    store = await openStore(`file://${path.join(dir, 'store')}`);
  });

  it('ingests CSV and Parquet files into datasets whose records read back exactly', async () => {
    const csv = path.join(dir, 'quotes.csv');
    await writeFile(
      csv,
      `ts,sym,price\n${Array.from({ length: 3000 }, (_, i) => `2026-01-0${1 + (i % 3)}T10:00:00Z,S${i % 5},${i / 4}`).join('\n')}\n`,
    );
    const s1 = await ingestFile(store, {
      path: csv,
      dataset: 'quotes',
      timeField: 'ts',
      blockTargetBytes: 4096,
    });
    expect(s1).toMatchObject({
      records: 3000,
      format: 'csv',
      segments: 3,
      minTime: Date.UTC(2026, 0, 1, 10),
      maxTime: Date.UTC(2026, 0, 3, 10),
    });
    const segments = await listSegments(store, 'quotes', { from: '2026-01-02', to: '2026-01-02' });
    const records: unknown[] = [];
    for await (const r of (await openSegment(store, segments[0]!.key)).records()) records.push(r);
    expect(records).toHaveLength(1000);
    expect(records[0]).toEqual({ ts: '2026-01-02T10:00:00Z', sym: 'S1', price: 0.25 });

    const pq = await parquetFile(
      't.parquet',
      `SELECT i AS n, TIMESTAMP '2026-03-01 00:00:00' + i * INTERVAL 1 HOUR AS time FROM range(5000) t(i)`,
    );
    const s2 = await ingestFile(store, { path: pq, dataset: 'hourly' });
    expect(s2).toMatchObject({ records: 5000, format: 'parquet', bytesIn: expect.any(Number) });
    expect(s2.bytesIn).toBeGreaterThan(0);
    expect(await datasetStats(store, 'hourly')).toMatchObject({
      records: 5000,
      minTime: Date.UTC(2026, 2, 1),
      maxTime: Date.UTC(2026, 2, 1) + 4999 * 3_600_000,
    });
  });

  it('a malformed record aborts the whole file: the dataset and tmp/ are unchanged', async () => {
    const file = path.join(dir, 'more.ndjson');
    const lines = Array.from({ length: 20_000 }, (_, i) =>
      JSON.stringify({ time: Date.UTC(2026, 0, 1) + i * 1000, i }),
    );
    lines[15_000] = JSON.stringify({ time: '2026-01-01T10:00:00', i: 15_000 });
    await writeFile(file, `${lines.join('\n')}\n`);
    const before = await listSegments(store, 'quotes');
    const err = await failure(() =>
      ingestFile(store, {
        path: file,
        dataset: 'quotes',
        blockTargetBytes: 4096,
        segmentTargetBytes: 32 * 1024,
      }),
    );
    expect(isStrataError(err, 'STRATA_E_RECORD_INVALID')).toBe(true);
    expect(err.message).toContain(
      `${file} line 15001: time field "time" is "2026-01-01T10:00:00", a date-time without a time zone`,
    );
    expect(await listSegments(store, 'quotes')).toEqual(before);
    const tmp: string[] = [];
    for await (const o of store.list('tmp/')) tmp.push(o.key);
    expect(tmp).toEqual([]);
  });

  it('reads stdin when the path is -, and refuses Parquet from stdin', async () => {
    const stdin = bytes('{"time":"2026-05-01"}\n{"time":"2026-05-02"}\n', 5);
    expect(await ingestFile(store, { path: '-', dataset: 'piped', stdin })).toMatchObject({
      records: 2,
      input: 'stdin',
      segments: 2,
    });
    const err = await failure(() => openInput({ path: '-', format: 'parquet' }));
    expect(err.code).toBe('STRATA_E_USAGE');
  });
});
