/**
 * `strata ingest` and `strata datasets`, run as real processes (node cli/bin.mjs) in a temporary
 * folder with the embedded default store ./.strata/store.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetStats } from '../../core/dataset/dataset-stats.ts';
import { listSegments } from '../../core/dataset/list-segments.ts';
import { openStore } from '../../core/store/open-store.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
const T0 = Date.UTC(2026, 0, 1);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let cwd: string;
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);

function strata(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

function pageviews(n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      time: new Date(T0 + i * 6_000).toISOString(),
      url: `/products/${i % 997}`,
      user: `u${(i * 7919) % 50_000}`,
      referrer: i % 3 ? 'https://example.com/' : null,
      ms: i % 1000,
    }),
  );
}

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-ingest-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('strata ingest', () => {
  it('ingests 100k NDJSON lines, then `strata datasets --json` shows the exact count', async () => {
    await writeFile(path.join(cwd, 'pageviews.ndjson'), `${pageviews(100_000).join('\n')}\n`);
    const run = await strata(['ingest', 'pageviews.ndjson', '--dataset', 'pageviews']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^ingested 100,000 records into "pageviews" from pageviews\.ndjson \(ndjson\): [\d.]+ MB in, 7 segments \([\d.]+ MB\) written in [\d.]+ s — [\d,]+ records\/s, [\d.]+ MB\/s\n$/,
    );

    const list = await strata(['datasets', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        name: 'pageviews',
        records: 100_000,
        segments: 7,
        from: '2026-01-01T00:00:00Z',
        to: new Date(T0 + 99_999 * 6_000).toISOString().replace('.000Z', 'Z'),
      }),
    ]);
  });

  it('a file with one malformed line in the middle is rejected with its line number, and the dataset is unchanged', async () => {
    const store = await openStore(`file://${path.join(cwd, '.strata', 'store')}`);
    const before = {
      segments: await listSegments(store, 'pageviews'),
      stats: await datasetStats(store, 'pageviews'),
    };
    const lines = pageviews(60_000);
    lines[41_233] = '{"time": "2026-01-03T00:00:00Z", "url": "/x", ';
    await writeFile(path.join(cwd, 'bad.ndjson'), `${lines.join('\n')}\n`);
    const run = await strata(['ingest', 'bad.ndjson', '--dataset', 'pageviews']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^strata: bad\.ndjson line 41234 is not valid JSON \(.+\): \{"time".* \[STRATA_E_RECORD_INVALID\]\n$/,
    );
    expect(await listSegments(store, 'pageviews')).toEqual(before.segments);
    expect(await datasetStats(store, 'pageviews')).toEqual(before.stats);
    const tmp: string[] = [];
    for await (const o of store.list('tmp/')) tmp.push(o.key);
    expect(tmp).toEqual([]);
    await store.close();
  });

  it('ingests CSV from stdin and Parquet from a file; a missing file and a bad flag fail clearly', async () => {
    const csv = `ts,sym,price\n${Array.from({ length: 5000 }, (_, i) => `${T0 + i * 1000},S${i % 9},${(i / 8).toFixed(3)}`).join('\n')}\n`;
    const parquet = path.join(cwd, 'ticks.parquet');
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    await conn.run(
      `COPY (SELECT TIMESTAMP '2026-02-01 09:30:00' + i * INTERVAL 1 SECOND AS time, 'S' || (i % 9) AS sym, i * 0.01 AS price FROM range(4000) t(i)) TO '${parquet}' (FORMAT parquet, ROW_GROUP_SIZE 1500)`,
    );
    conn.closeSync();
    duck.closeSync();

    const [fromStdin, fromParquet, missing, badFlag] = await Promise.all([
      strata(
        ['ingest', '-', '--format', 'csv', '--dataset', 'quotes', '--time-field', 'ts', '--json'],
        csv,
      ),
      strata(['ingest', 'ticks.parquet', '--dataset', 'ticks']),
      strata(['ingest', 'nowhere.ndjson', '--dataset', 'pageviews']),
      strata(['ingest', 'pageviews.ndjson', '--dataset', 'pageviews', '--format', 'xml']),
    ]);
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({
      dataset: 'quotes',
      input: 'stdin',
      format: 'csv',
      records: 5000,
      minTime: T0,
      maxTime: T0 + 4999 * 1000,
    });
    expect(fromParquet.code).toBe(0);
    expect(fromParquet.stdout).toMatch(
      /^ingested 4,000 records into "ticks" from ticks\.parquet \(parquet\)/,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^strata: cannot open input nowhere\.ndjson: no such file; .* \[STRATA_E_INPUT_NOT_FOUND\]\n$/,
    );
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain(
      "option '--format <format>' argument 'xml' is invalid. Allowed choices are ndjson, csv, parquet.",
    );

    const store = await openStore(`file://${path.join(cwd, '.strata', 'store')}`);
    expect((await datasetStats(store, 'quotes')).records).toBe(5000);
    expect(await datasetStats(store, 'ticks')).toMatchObject({
      records: 4000,
      minTime: Date.UTC(2026, 1, 1, 9, 30),
    });
    expect((await datasetStats(store, 'pageviews')).records).toBe(100_000); // the failed runs added nothing
    await store.close();
  });
});
