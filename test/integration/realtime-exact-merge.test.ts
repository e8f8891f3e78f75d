/**
 * The speed layer's promise, checked against a full recomputation after every step: ingest
 * requests through `strata speed`, recomputations of the realtime view by the batch layer and
 * their publication interleave at random (a recomputation runs while ingests keep arriving), and
 * after every acknowledged ingest and every step the view server's answer for every key equals
 * runLocal(job, every acknowledged record). Real processes throughout: redis-server, coordinator,
 * a worker, the speed layer and a view server.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, defineJob, runLocal } from '../../jobs/index.ts';
import { ViewServerClient, type LiveEvent } from '../../cli/cluster/view-server-client.ts';
import { CoordinatorClient } from '../../cli/coordinator-client.ts';
import { startCluster, type TestCluster } from '../support/cluster.ts';

const PAGES = Array.from({ length: 12 }, (_, i) => `/p${i}`);
// The same job as the file the cluster runs, for the expected answers.
const job = defineJob({
  name: 'clicks',
  input: { dataset: 'clicks' },
  partitions: 2,
  map: (r: { page: string }, emit) => emit(r.page, 1),
  aggregate: count(),
});
const JOB_SOURCE = `import { defineJob, count } from 'strata';
export default defineJob({ name: 'clicks', input: { dataset: 'clicks' }, partitions: 2, map: (r, emit) => emit(r.page, 1), aggregate: count() });
`;

let cluster: TestCluster;
let api: CoordinatorClient;
let jobDir: string;
let nextId = 0;
const acked: Array<{ id: number; page: string; time: number }> = [];

beforeAll(async () => {
  cluster = await startCluster({ workers: 1, config: { speedBucketMs: 50 } });
  api = new CoordinatorClient({ url: cluster.info.coordinatorUrl!, token: cluster.info.token });
  jobDir = await mkdtemp(path.join(os.tmpdir(), 'strata-rt-job-'));
  await writeFile(path.join(jobDir, 'clicks.ts'), JOB_SOURCE);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  if (jobDir) await rm(jobDir, { recursive: true, force: true });
});

async function ingest(pages: string[]): Promise<void> {
  const records = pages.map((page) => ({
    id: nextId++,
    page,
    time: Date.UTC(2026, 10, 22, 12) + nextId,
  }));
  const res = await fetch(`${cluster.info.speedUrl}/v1/datasets/clicks/records`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${cluster.info.token}`,
      'content-type': 'application/x-ndjson',
    },
    body: records.map((r) => JSON.stringify(r)).join('\n'),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  acked.push(...records);
}

interface Served {
  version: string;
  values: Array<number | null>;
  sources?: Array<{ batch: number | null; realtime: number | null } | null>;
}

/** Every key's served value equals a recomputation over every acknowledged record. */
async function expectExact(when: string): Promise<Served> {
  const expected = new Map((await runLocal(job, acked)).map(([k, v]) => [k[0] as string, v]));
  const res = await fetch(`${cluster.info.serveUrl}/v1/views/clicks/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(PAGES.map((p) => [p])),
  });
  expect(res.status).toBe(200);
  const served = (await res.json()) as Served;
  const got = Object.fromEntries(PAGES.map((p, i) => [p, served.values[i] ?? 0]));
  const want = Object.fromEntries(PAGES.map((p) => [p, expected.get(p) ?? 0]));
  expect(got, `${when} (version ${served.version}, ${acked.length} acknowledged records)`).toEqual(
    want,
  );
  // And the scan (the union of batch keys and realtime keys) says the same.
  const scan = (await (
    await fetch(`${cluster.info.serveUrl}/v1/views/clicks/scan?limit=1000`)
  ).json()) as { entries: Array<[[string], number]> };
  expect(Object.fromEntries(scan.entries.map(([k, v]) => [k[0], v])), `${when}: scan`).toEqual(
    Object.fromEntries([...expected]),
  );
  return served;
}

async function waitForVersion(jobId: string): Promise<string> {
  const final = await api.waitFor(jobId, { intervalMs: 100 });
  expect(final.state, JSON.stringify(final.error)).toBe('succeeded');
  // The server swaps within a moment of the announcement.
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${cluster.info.serveUrl}/v1/views/clicks`);
    if (res.ok && ((await res.json()) as { version: string }).version === final.version)
      return final.version!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the view server did not load ${final.version}`);
}

describe('realtime view: batch ⊕ realtime equals a full recomputation', () => {
  it('stays exact through random interleavings of ingests, recomputations and publications', async () => {
    // Records ingested before the view is registered reach it through its first batch version.
    await ingest(['/p0', '/p1', '/p1', '/p2']);
    const reg = await cluster.strata(
      ['views', 'register', path.join(jobDir, 'clicks.ts'), '--every', 'off', '--json'],
      { timeoutMs: 120_000 },
    );
    expect(reg.code, reg.stderr).toBe(0);
    const registered = JSON.parse(reg.stdout) as { job: { version: string } };
    expect(registered.job.version).toMatch(/^v/);
    await waitForVersion((JSON.parse(reg.stdout) as { job: { id: string } }).job.id);
    await expectExact('after the first batch version');

    const step = fc.oneof(
      fc.record({
        kind: fc.constant('ingest' as const),
        pages: fc.array(fc.constantFrom(...PAGES), { minLength: 1, maxLength: 60 }),
      }),
      fc.record({
        kind: fc.constant('batch' as const),
        during: fc.array(fc.array(fc.constantFrom(...PAGES), { minLength: 1, maxLength: 30 }), {
          maxLength: 4,
        }),
      }),
    );
    const steps = fc.sample(fc.array(step, { minLength: 10, maxLength: 10 }), {
      numRuns: 1,
      seed: 20261122,
    })[0]!;
    // At least two recomputations, whatever the sample.
    steps.push({ kind: 'batch', during: [['/p3'], ['/p4', '/p4']] }, { kind: 'batch', during: [] });
    let versions = 1;
    for (const [i, s] of steps.entries()) {
      if (s.kind === 'ingest') {
        await ingest(s.pages);
        await expectExact(`step ${i}: after an ingest of ${s.pages.length}`);
        continue;
      }
      // A recomputation while ingests keep coming: exact before, during and after publication.
      const started = await api.recompute('clicks');
      for (const pages of s.during) {
        await ingest(pages);
        await expectExact(`step ${i}: an ingest while job ${started.id} runs`);
      }
      await waitForVersion(started.id);
      versions++;
      const served = await expectExact(`step ${i}: after job ${started.id} published`);
      // The answer says how much came from each side, and the two add up.
      for (const [j, src] of (served.sources ?? []).entries())
        if (src) expect((src.batch ?? 0) + (src.realtime ?? 0)).toBe(served.values[j]);
    }
    expect(versions).toBeGreaterThanOrEqual(3);
    // The batch layer took over: after the last recomputation no realtime bucket is needed for
    // older data.
    const last = await expectExact('at the end');
    expect(last.sources?.some((s) => s !== null && s.batch !== null)).toBe(true);
  }, 240_000);

  it('streams changed keys and new versions to live clients, and strata get without a view server still merges both halves', async () => {
    const events: LiveEvent[] = [];
    const stop = new AbortController();
    const reading = (async () => {
      for await (const e of new ViewServerClient(cluster.info.serveUrl!).changes(
        'clicks',
        stop.signal,
      ))
        events.push(e);
    })();
    const waitFor = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(pred(), what).toBe(true);
    };
    await waitFor(() => events.some((e) => e.event === 'hello'), 'a hello event');
    await ingest(['/p7', '/p9']);
    await waitFor(
      () =>
        events.some(
          (e) =>
            e.event === 'keys' &&
            JSON.stringify(e.data.keys).includes('/p7') &&
            JSON.stringify(e.data.keys).includes('/p9'),
        ),
      'a keys event naming /p7 and /p9',
    );
    const job = await api.recompute('clicks');
    const version = await waitForVersion(job.id);
    await waitFor(
      () => events.some((e) => e.event === 'version' && e.data.version === version),
      `a version event for ${version}`,
    );
    stop.abort();
    await reading;

    await ingest(['/p9']);
    const expected = acked.filter((r) => r.page === '/p9').length;
    const noServer = { ...cluster.env, STRATA_SERVE_URL: 'http://127.0.0.1:9' };
    const got = await cluster.strata(['get', 'clicks', '/p9'], { env: noServer });
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toBe(expected);
  }, 120_000);
});
