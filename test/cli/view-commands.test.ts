/**
 * `strata views`, `strata get` and `strata scan` as real processes over views published in a
 * store the way the coordinator commits them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClusterFile } from '../../core/cluster-file.ts';
import { openStore } from '../../core/store/open-store.ts';
import { publishView, type Row } from './fixtures/publish-view.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);
let cwd: string;

function strata(
  args: string[],
  dir = cwd,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const hits: Row[] = [];
for (let u = 0; u < 30; u++)
  for (let h = 0; h < 5; h++) hits.push([[`/page/${u}`, `2024-06-01T0${h}`], u * 10 + h]);

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-views-'));
  const store = await openStore(`file://${path.join(cwd, '.strata', 'store')}`);
  await publishView(store, 'hits', hits, { partitions: 4, version: 'v0000000000001-first' });
  await publishView(
    store,
    'hits',
    hits.map(([k, v]) => [k, (v as number) + 1000]),
    { partitions: 4, version: 'v0000000000002-second' },
  );
  await publishView(
    store,
    'typed',
    [
      [[7], 'number seven'],
      [['7'], 'string seven'],
      [['02139'], 'zip'],
      [[2024, 'x'], { nested: [1, 2] }],
    ],
    { partitions: 3 },
  );
  await store.close();
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('strata views', () => {
  it('lists each view with its current version, keys and version count', async () => {
    const [run, table] = await Promise.all([strata(['views', '--json']), strata(['views'])]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      expect.objectContaining({
        view: 'hits',
        version: 'v0000000000002-second',
        records: 150,
        partitions: 4,
        versions: 2,
        jobId: 'test-job',
      }),
      expect.objectContaining({ view: 'typed', records: 4, partitions: 3, versions: 1 }),
    ]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^view\s+version\s+keys\s+parts\s+versions\s+job\s+published$/,
    );
    expect(table.stdout).toMatch(
      /^hits\s+v0000000000002-second\s+150\s+4\s+2\s+test-job\s+\d{4}-/m,
    );
  });

  it('says how to make one when there are none', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-noviews-'));
    const run = await strata(['views'], empty);
    await rm(empty, { recursive: true, force: true });
    expect([run.code, run.stdout]).toEqual([
      0,
      'no views published yet; run a job with: strata submit <job.ts>\n',
    ]);
  });
});

describe('strata get', () => {
  it('prints the current value as JSON, or an older version with --version', async () => {
    const [current, older] = await Promise.all([
      strata(['get', 'hits', '/page/7', '2024-06-01T03']),
      strata(['get', 'hits', '/page/7', '2024-06-01T03', '--version', 'v0000000000001-first']),
    ]);
    expect(current).toEqual({ code: 0, stdout: '1073\n', stderr: '' });
    expect(older.stdout).toBe('73\n');
  });

  it('reads number-looking parts as numbers, and every part as a string with --string', async () => {
    // (the reading rules themselves: command-arguments.test.ts)
    const runs = await Promise.all([
      strata(['get', 'typed', '7']),
      strata(['get', 'typed', '7', '--string']),
    ]);
    expect(runs.map((r) => r.stdout)).toEqual(['"number seven"\n', '"string seven"\n']);
  });

  it('a missing key is STRATA_E_KEY_NOT_FOUND (exit 1), hinting at --string when the string key exists', async () => {
    const run = await strata(['get', 'hits', '/page/7', '2024-06-01T09']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'strata: view "hits" (version v0000000000002-second) has no key ["/page/7","2024-06-01T09"]; list keys with strata scan hits <first part> [STRATA_E_KEY_NOT_FOUND]\n',
    );
    await publishOne('zips', [[['12345'], 'a zip']]);
    const hinted = await strata(['get', 'zips', '12345']);
    expect(hinted.stderr).toMatch(
      /has no key \[12345\]; the key \["12345"\] \(all strings\) exists: add --string \[STRATA_E_KEY_NOT_FOUND\]/,
    );
  });

  it('an unknown view is STRATA_E_VIEW_NOT_FOUND (exit 1)', async () => {
    const run = await strata(['get', 'nope', 'x']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^strata: no view "nope" has been published in file:\/\/.*; run a job that writes it .* \[STRATA_E_VIEW_NOT_FOUND\]\n$/,
    );
  });
});

describe('strata scan', () => {
  it('prints a prefix of one row key as NDJSON [key, value] lines in key order', async () => {
    const run = await strata(['scan', 'hits', '/page/12']);
    expect(run.code).toBe(0);
    expect(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual(hits.filter(([k]) => k[0] === '/page/12').map(([k, v]) => [k, (v as number) + 1000]));
  });

  it('without a prefix merges every part in key order; --limit stops early', async () => {
    const [all, some] = await Promise.all([
      strata(['scan', 'hits']),
      strata(['scan', 'hits', '--limit', '3']),
    ]);
    const keys = all.stdout
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as [string[]])[0]);
    expect(keys).toHaveLength(150);
    expect(keys).toEqual(
      [...keys].sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : a[1]! < b[1]! ? -1 : 1)),
    );
    expect(some.stdout.trimEnd().split('\n')).toHaveLength(3);
  });
});

describe('which store', () => {
  it('--store wins; else the store of .strata/cluster.json', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-otherstore-'));
    const store = await openStore(`file://${other}`);
    await publishView(store, 'elsewhere', [[['k'], 1]], { partitions: 2 });
    await store.close();
    expect((await strata(['get', 'elsewhere', 'k', '--store', `file://${other}`])).stdout).toBe(
      '1\n',
    );
    const clusterDir = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-clusterfile-'));
    await writeClusterFile(path.join(clusterDir, '.strata'), {
      redisUrl: 'redis://127.0.0.1:1',
      redisPrefix: 'p',
      token: 't',
      coordinatorUrl: 'http://127.0.0.1:1',
      store: `file://${other}`,
      pids: {},
    });
    expect((await strata(['get', 'elsewhere', 'k'], clusterDir)).stdout).toBe('1\n');
    await rm(other, { recursive: true, force: true });
    await rm(clusterDir, { recursive: true, force: true });
  });
});

async function publishOne(view: string, rows: Row[]): Promise<void> {
  const store = await openStore(`file://${path.join(cwd, '.strata', 'store')}`);
  await publishView(store, view, rows, { partitions: 2 });
  await store.close();
}
