/**
 * Human-fault tolerance, part two: the classic mistake, on a real cluster (redis-server, a
 * coordinator, two workers and a view server as child processes; the real CLI).
 *
 *   1. a good pageviews job publishes; the view server answers the right counts;
 *   2. a "fixed" job is deployed that counts every pageview twice, under the same view name; it
 *      publishes and the served answers are wrong (2×);
 *   3. `strata views rollback pageviews` restores the good answers at once: the view server
 *      follows within a second, and nothing was recomputed;
 *   4. the job, fixed for real, recomputes from the master dataset and publishes; the served
 *      values are right again.
 *
 * Throughout, the master dataset's segment keys and bytes stay exactly as ingested: a bug in a
 * job can corrupt a view, never the data it was computed from, so every view can be recomputed.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatKey } from '../../core/keys/key-codec.ts';
import { readCurrentVersion } from '../../core/views/view-layout.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import {
  generatePageviews,
  type PageviewEvent,
} from '../../examples/web-analytics/generate-pageviews.ts';
import { startCluster, type CliRun, type TestCluster } from '../support/cluster.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const GOOD_JOB = path.join(REPO, 'examples/web-analytics/pageviews.ts');

let cluster: TestCluster;
const events: PageviewEvent[] = [];
const expected = new Map<string, number>(); // formatKey([url, hour]) → views
let sample: Array<[string, string]> = []; // keys the view server is asked for

beforeAll(async () => {
  cluster = await startCluster({ workers: 2, splitTargetBytes: 512 * 1024 });
  for (const e of generatePageviews({ count: 20_000, seed: 13 })) events.push(e);
  for (const e of events) {
    const k = formatKey([e.url, e.time.slice(0, 13)]);
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  // Every 7th key, up to the view server's 1,000-key multi-get.
  sample = [...expected.keys()]
    .filter((_, i) => i % 7 === 0)
    .slice(0, 1000)
    .map((k) => JSON.parse(k) as [string, string]);
  await cluster.append('pageviews', events as unknown as Array<Record<string, unknown>>, (e) =>
    Date.parse(e.time as string),
  );
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Every master/ segment with the sha256 of its bytes. */
async function masterSnapshot(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of cluster.store.list('master/'))
    out.set(
      o.key,
      createHash('sha256')
        .update(await cluster.store.get(o.key))
        .digest('hex'),
    );
  return out;
}

/**
 * The version the view server answers the sample from, and the factor every answer is of the true
 * count (NaN when they disagree).
 */
async function served(): Promise<{ version: string; factor: number }> {
  const res = await fetch(`${cluster.info.serveUrl}/v1/views/pageviews/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sample),
  });
  if (res.status !== 200) return { version: `HTTP ${res.status}`, factor: Number.NaN };
  const body = (await res.json()) as {
    version: string;
    values: Array<number | null>;
    missing: number[];
  };
  const factors = new Set(
    body.values.map((v, i) => (v ?? 0) / expected.get(formatKey(sample[i]!))!),
  );
  return { version: body.version, factor: factors.size === 1 ? [...factors][0]! : Number.NaN };
}

/** The whole current view, read from the store, as the factor of every value to its true count. */
async function storedFactor(): Promise<number> {
  const reader = await ViewReader.open(cluster.store, 'pageviews');
  try {
    const factors = new Set<number>();
    let keys = 0;
    for await (const [key, value] of reader.scan()) {
      keys++;
      factors.add((value as number) / (expected.get(formatKey(key)) ?? Number.NaN));
    }
    return keys === expected.size && factors.size === 1 ? [...factors][0]! : Number.NaN;
  } finally {
    await reader.close();
  }
}

async function submit(file: string): Promise<string> {
  const run: CliRun = await cluster.strata(['submit', file, '--wait']);
  expect(run.stderr.split('\n').filter((l) => l.startsWith('strata:'))).toEqual([]);
  expect(run.code).toBe(0);
  const m = /^published pageviews (v\d{13}-\S+) /.exec(run.stdout);
  expect(m, run.stdout).not.toBeNull();
  return m![1]!;
}

async function jobFile(name: string, map: string): Promise<string> {
  const file = path.join(cluster.cwd, name);
  await writeFile(
    file,
    `import { count, defineJob } from 'strata';
export default defineJob({
  name: 'pageviews',
  input: { dataset: 'pageviews' },
  map: (pv: { url: string; time: string }, emit) => {
${map}
  },
  aggregate: count(),
  partitions: 8,
});
`,
  );
  return file;
}

it('a job that double-counts is published, rolled back at once, and recomputed correctly from the untouched master dataset', async () => {
  const master = await masterSnapshot();
  expect(master.size).toBeGreaterThanOrEqual(14); // one segment per day at least

  // 1. The good job.
  const good = await submit(GOOD_JOB);
  await expect
    .poll(served, { timeout: 10_000, interval: 50 })
    .toEqual({ version: good, factor: 1 });
  expect(await storedFactor()).toBe(1);
  expect(await masterSnapshot()).toEqual(master);

  // 2. The mistake: a refactor that emits every pageview twice, deployed under the same view.
  const buggy = await jobFile(
    'pageviews-buggy.ts',
    `    const hour = pv.time.slice(0, 13);\n    emit([pv.url, hour], 1);\n    emit([pv.url, hour], 1); // left over from the refactor`,
  );
  const bad = await submit(buggy);
  expect(bad).not.toBe(good);
  await expect.poll(served, { timeout: 10_000, interval: 50 }).toEqual({ version: bad, factor: 2 });
  expect(await storedFactor()).toBe(2);
  expect(await masterSnapshot()).toEqual(master);

  // 3. Roll back: one command, no recomputation; the server follows the announcement.
  const rollback = await cluster.strata(['views', 'rollback', 'pageviews']);
  expect([rollback.code, rollback.stderr]).toEqual([0, '']);
  expect(rollback.stdout).toBe(
    `pageviews: current version ${bad} → ${good} (announced to view servers)\n`,
  );
  const rolledBack = performance.now();
  await expect.poll(served, { timeout: 5_000, interval: 20 }).toEqual({ version: good, factor: 1 });
  const followMs = performance.now() - rolledBack;
  console.log(
    `the view server answered from ${good} again ${Math.round(followMs)} ms after strata views rollback returned`,
  );
  expect(followMs).toBeLessThan(1000);
  expect(await readCurrentVersion(cluster.store, 'pageviews')).toBe(good);
  expect(await masterSnapshot()).toEqual(master);

  // 4. The real fix recomputes from the master dataset.
  const fixedFile = await jobFile(
    'pageviews-fixed.ts',
    `    emit([pv.url, pv.time.slice(0, 13)], 1);`,
  );
  const fixed = await submit(fixedFile);
  expect(new Set([good, bad, fixed]).size).toBe(3);
  await expect
    .poll(served, { timeout: 10_000, interval: 50 })
    .toEqual({ version: fixed, factor: 1 });
  expect(await storedFactor()).toBe(1);
  expect(await masterSnapshot()).toEqual(master);

  // Nothing was deleted: the bad version is still there to look at (or roll forward to).
  const history = JSON.parse(
    (await cluster.strata(['views', 'history', 'pageviews', '--json'])).stdout,
  ) as Array<{ version: string; current: boolean }>;
  expect(history.map((h) => [h.version, h.current])).toEqual([
    [fixed, true],
    [bad, false],
    [good, false],
  ]);
});
