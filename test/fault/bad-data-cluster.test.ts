/**
 * Bad data on a real cluster (redis-server, a coordinator and two worker processes; jobs
 * submitted with the real CLI): a damaged segment block and records the user's map throws on.
 *
 * - no budget: a damaged block stops the job with STRATA_E_SEGMENT_CORRUPT naming segment and
 *   block, shown by `strata status`;
 * - `badRecords: { max }` that the whole job passes although no single task does: the coordinator
 *   fails the job with STRATA_E_JOB_BAD_RECORDS (coordinator/bad-record-budget.ts), and `strata
 *   status` shows where the quarantine is and how many records it holds;
 * - a budget that suffices: the job publishes the view of the good records only, the manifest and
 *   status count the bad ones, and `strata status --quarantine` prints exactly them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatKey } from '../../core/keys/key-codec.ts';
import { listSegments } from '../../core/dataset/list-segments.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import { readCurrentVersion, readManifest } from '../../core/views/view-layout.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import {
  generatePageviews,
  type PageviewEvent,
} from '../../examples/web-analytics/generate-pageviews.ts';
import { startCluster, type CliRun, type TestCluster } from '../support/cluster.ts';

let cluster: TestCluster;
const events: PageviewEvent[] = [];

/** The records the flaky job's map throws on: about 1 in 37, spread over every day. */
const isBad = (e: { time: string }) => Number(e.time.slice(20, 23)) % 37 === 0;
const hourKey = (e: { url: string; time: string }) => formatKey([e.url, e.time.slice(0, 13)]);

beforeAll(async () => {
  // Small splits: several map tasks per daily segment, so bad records spread over many tasks.
  cluster = await startCluster({ workers: 2, splitTargetBytes: 128 * 1024 });
  for (const e of generatePageviews({ count: 20_000, seed: 21 })) events.push(e);
  await cluster.append('pageviews', events as unknown as Array<Record<string, unknown>>, (e) =>
    Date.parse(e.time as string),
  );
  await cluster.append(
    'rotten',
    events.slice(0, 8000) as unknown as Array<Record<string, unknown>>,
    (e) => Date.parse(e.time as string),
  );
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

async function jobFile(name: string, text: string): Promise<string> {
  const file = path.join(cluster.cwd, `${name}.ts`);
  await writeFile(file, text);
  return file;
}

/** Pageviews per URL and hour; the map emits first, then throws on a bad record. */
function flakyJob(
  name: string,
  dataset: string,
  max: number | undefined,
  throws = true,
): Promise<string> {
  return jobFile(
    name,
    `import { defineJob, count } from 'strata';
export default defineJob({
  name: '${name}',
  input: { dataset: '${dataset}' },
  map: (pv: { url: string; time: string }, emit) => {
    emit([pv.url, pv.time.slice(0, 13)], 1);
    if (${throws} && Number(pv.time.slice(20, 23)) % 37 === 0) throw new RangeError('no such millisecond ' + pv.time);
  },
  aggregate: count(),
  partitions: 3,${max === undefined ? '' : `\n  badRecords: { max: ${max} },`}
});
`,
  );
}

function jobIdOf(run: CliRun): string {
  const m = /by job (\S+)/.exec(run.stdout) ?? /strata: job (\S+) \(/.exec(run.stderr);
  if (!m) throw new Error(`no job id in: ${run.stdout}${run.stderr}`);
  return m[1]!;
}

async function viewCounts(view: string): Promise<Map<string, unknown>> {
  const reader = await ViewReader.open(cluster.store, view);
  try {
    const out = new Map<string, unknown>();
    for await (const [key, value] of reader.scan()) out.set(formatKey(key), value);
    return out;
  } finally {
    await reader.close();
  }
}

function countsOf(rs: Iterable<{ url: string; time: string }>): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rs) m.set(hourKey(r), (m.get(hourKey(r)) ?? 0) + 1);
  return m;
}

describe('records the map throws on, with a bad-record budget', () => {
  it('a job whose tasks each stay within the budget but together pass it fails with STRATA_E_JOB_BAD_RECORDS from the coordinator; status shows the quarantine', async () => {
    const perDay = new Map<string, number>();
    for (const e of events)
      if (isBad(e)) perDay.set(e.time.slice(0, 10), (perDay.get(e.time.slice(0, 10)) ?? 0) + 1);
    const total = [...perDay.values()].reduce((a, b) => a + b, 0);
    // A task reads part of one day's segment, so no task meets more than the worst day: the budget.
    const max = Math.max(...perDay.values());
    expect(total).toBeGreaterThan(3 * max);

    const run = await cluster.strata(
      ['submit', await flakyJob('flaky-over', 'pageviews', max), '--wait'],
      { timeoutMs: 90_000 },
    );
    expect(run.code).toBe(1);
    const id = jobIdOf(run);
    const message = run.stderr.slice(run.stderr.indexOf('strata: '));
    const m = new RegExp(
      `^strata: job ${id} \\(flaky-over\\) failed: job 'flaky-over': its map tasks met ([\\d,]+) bad records \\(in (\\d+) tasks; most in m-\\d+: [\\d,]+.*\\), more than its budget of badRecords\\.max = ${max}\\. `,
    ).exec(message);
    expect(m, message).not.toBeNull();
    const met = Number(m![1]!.replace(/,/g, ''));
    expect(met).toBeGreaterThan(max);
    expect(Number(m![2])).toBeGreaterThan(1);
    expect(message).toContain(
      `in quarantine/${id}/ (strata status ${id} --quarantine prints them)`,
    );
    expect(message).toMatch(
      /raise the budget: badRecords: \{ max: \d+ \} in defineJob\. \[STRATA_E_JOB_BAD_RECORDS\]\n$/,
    );
    expect(await readCurrentVersion(cluster.store, 'flaky-over')).toBeUndefined();

    const status = await cluster.strata(['status', id]);
    expect(status.stdout).toMatch(
      new RegExp(
        `^ {2}quarantine ${met.toLocaleString('en-US')} bad records skipped \\(budget badRecords\\.max = ${max}\\); \\d+ files \\([\\d.]+ [kM]?B\\) in quarantine/${id}/ of file://\\S+; print them with: strata status ${id} --quarantine$`,
        'm',
      ),
    );
    expect(status.stdout).toMatch(
      /^ {2}error {6}job 'flaky-over': its map tasks met .* \[STRATA_E_JOB_BAD_RECORDS\]$/m,
    );
    const lines = (await cluster.strata(['status', id, '--quarantine'])).stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; code: string; value: { time: string } });
    // The succeeded maps' lines, and those of maps still running when the job failed.
    expect(lines.length).toBeGreaterThanOrEqual(met);
    for (const l of lines)
      expect([l.kind, l.code, isBad(l.value)]).toEqual(['record', 'STRATA_E_JOB_MAP_FAILED', true]);
  });

  it('a job within its budget publishes the view of the good records; the manifest and status count the bad ones and --quarantine prints exactly them', async () => {
    const bad = events.filter(isBad);
    const run = await cluster.strata(
      ['submit', await flakyJob('flaky-ok', 'pageviews', bad.length), '--wait'],
      { timeoutMs: 90_000 },
    );
    expect(run.stderr.split('\n').filter((l) => l.startsWith('strata:'))).toEqual([]);
    expect(run.code).toBe(0);
    const id = jobIdOf(run);
    // Each bad record's own emit (made before it threw) is not in the view.
    expect(await viewCounts('flaky-ok')).toEqual(countsOf(events.filter((e) => !isBad(e))));
    const version = (await readCurrentVersion(cluster.store, 'flaky-ok'))!;
    expect((await readManifest(cluster.store, 'flaky-ok', version)).counters.badRecords).toBe(
      bad.length,
    );

    const status = await cluster.strata(['status', id]);
    expect(status.stdout).toMatch(
      new RegExp(
        `^ {2}counters {3}records in [\\d,]+, out [\\d,]+, bad ${bad.length.toLocaleString('en-US')},`,
        'm',
      ),
    );
    expect(status.stdout).toContain(
      `  quarantine ${bad.length.toLocaleString('en-US')} bad records skipped (budget badRecords.max = ${bad.length.toLocaleString('en-US')}); `,
    );
    const json = JSON.parse((await cluster.strata(['status', id, '--json'])).stdout) as {
      counters: { badRecords: number };
      quarantine: { prefix: string; files: unknown[] };
    };
    expect(json.counters.badRecords).toBe(bad.length);
    expect(json.quarantine.prefix).toBe(`quarantine/${id}/`);
    const printed = await cluster.strata(['status', id, '--quarantine']);
    expect(printed.code).toBe(0);
    const lines = printed.stdout
      .trimEnd()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            value: PageviewEvent;
            error: string;
            segment: string;
            block: number;
            record: number;
          },
      );
    expect(lines.map((l) => `${l.value.time} ${l.value.visitor}`).sort()).toEqual(
      bad.map((e) => `${e.time} ${e.visitor}`).sort(),
    );
    const blocks = new Map<string, unknown[]>();
    for (const l of lines) {
      expect(l.error).toBe(`no such millisecond ${l.value.time}`);
      // Where it came from is exact: that block of that segment holds that record at that index.
      const id = `${l.segment}#${l.block}`;
      if (!blocks.has(id)) {
        const segment = await openSegment(cluster.store, l.segment);
        for await (const b of segment.blocks({ fromBlock: l.block, toBlock: l.block + 1 }))
          blocks.set(id, b.records);
      }
      expect(blocks.get(id)![l.record]).toEqual(l.value);
    }
  });
});

describe('a damaged segment block', () => {
  it('stops a job without a budget with STRATA_E_SEGMENT_CORRUPT naming segment and block; with a budget the block is skipped and counted', async () => {
    const segments = await listSegments(cluster.store, 'rotten');
    const victim = segments[Math.floor(segments.length / 2)]!;
    const reader = await openSegment(cluster.store, victim.key);
    const blockIndex = Math.floor(reader.blockCount / 2);
    const lost: PageviewEvent[] = [];
    for await (const b of reader.blocks({ fromBlock: blockIndex, toBlock: blockIndex + 1 }))
      lost.push(...(b.records as unknown as PageviewEvent[]));
    expect(lost.length).toBeGreaterThan(10);
    // Bit rot on the store's disk: one byte in the middle of the block.
    const file = path.join(cluster.cwd, '.strata', 'store', victim.key);
    const bytes = await readFile(file);
    const info = reader.footer.blocks[blockIndex]!;
    bytes[info.offset + Math.floor(info.length / 2)] ^= 0x20;
    await writeFile(file, bytes);

    const strict = await cluster.strata(
      ['submit', await flakyJob('rotten-strict', 'rotten', undefined, false), '--wait'],
      { timeoutMs: 90_000 },
    );
    expect(strict.code).toBe(1);
    const where = `segment ${victim.key} block ${blockIndex} at byte ${info.offset}`;
    expect(strict.stderr).toContain(where);
    expect(strict.stderr).toMatch(
      /CRC32 mismatch .*badRecords: \{ max: N \} in defineJob \[STRATA_E_SEGMENT_CORRUPT\]\n$/,
    );
    const status = await cluster.strata(['status', jobIdOf(strict)]);
    expect(status.stdout).toMatch(
      new RegExp(
        `^ {2}error {6}.*${where.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*\\[STRATA_E_SEGMENT_CORRUPT\\]$`,
        'm',
      ),
    );
    expect(await readCurrentVersion(cluster.store, 'rotten-strict')).toBeUndefined();

    const tolerant = await cluster.strata(
      ['submit', await flakyJob('rotten-ok', 'rotten', lost.length, false), '--wait'],
      { timeoutMs: 90_000 },
    );
    expect(tolerant.code).toBe(0);
    const lostKeys = new Set(lost.map((e) => `${e.time} ${e.visitor}`));
    expect(await viewCounts('rotten-ok')).toEqual(
      countsOf(events.slice(0, 8000).filter((e) => !lostKeys.has(`${e.time} ${e.visitor}`))),
    );
    const version = (await readCurrentVersion(cluster.store, 'rotten-ok'))!;
    expect((await readManifest(cluster.store, 'rotten-ok', version)).counters.badRecords).toBe(
      lost.length,
    );
    const lines = (await cluster.strata(['status', jobIdOf(tolerant), '--quarantine'])).stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      {
        kind: 'block',
        segment: victim.key,
        block: blockIndex,
        offset: info.offset,
        records: lost.length,
        code: 'STRATA_E_SEGMENT_CORRUPT',
        error: expect.stringContaining(where),
      },
    ]);
  });
});
