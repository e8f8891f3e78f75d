/**
 * Bad data, below the cluster: segments with damaged blocks and records the user's map throws on,
 * read by the segment readers and by real map tasks over a real file store.
 *
 * Without a budget the first bad block or record stops the task with an error naming where it
 * is; with `badRecords: { max }` the task skips exactly the bad ones (a damaged block whole, a
 * throwing record with everything it emitted), counts them, and writes each to its quarantine
 * file with the error and the place it came from. The coordinator's budget check is a pure
 * function.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, defineJob, type JobDefinition } from 'strata';
import { badRecordBudgetError, type BudgetTask } from '../../coordinator/bad-record-budget.ts';
import { parseJobSpec } from '../../coordinator/job-spec-schema.ts';
import { isStrataError, StrataError } from '../../core/errors.ts';
import { decodeAccumulator } from '../../jobs/aggregators/aggregator.ts';
import { decodeKey, formatKey } from '../../core/keys/key-codec.ts';
import { encodeSegment, type TimedRecord } from '../../core/segment/segment-encoder.ts';
import { SegmentReader } from '../../core/segment/segment-reader.ts';
import { readSegmentStream } from '../../core/segment/segment-stream-reader.ts';
import { emptyCounters, type MapTask, type Split } from '../../core/tasks/task-payload.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import { runMapTask } from '../../worker/map/run-map-task.ts';
import { quarantineKey, quarantinePrefix } from '../../core/tasks/task-payload.ts';
import { openRunFile } from '../../worker/shuffle/run-file.ts';
import { unpackValue } from '../../worker/shuffle-value.ts';
import { ingest, splitsOf, tempStore, type TempStore } from '../worker/support/worker-fixtures.ts';

type AnyJob = JobDefinition<unknown, unknown, unknown>;

/** Array.fromAsync, which Node 20 lacks. */
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
interface Pv {
  url: string;
  time: string;
  seq: number;
}

// ---------------------------------------------------------------------------------------------
// The segment readers' skip mode, over an encoded segment in memory.

const KEY = 'master/ds/dt=2026-01-01/0000000000001000000-ab.seg';
const T0 = Date.UTC(2026, 0, 1);
const timed: TimedRecord[] = Array.from({ length: 3000 }, (_, i) => ({
  time: T0 + i * 1000,
  record: { time: T0 + i * 1000, page: `/p/${i % 37}`, n: i },
}));
const good = Buffer.concat(
  await collect(encodeSegment(timed, { dataset: 'ds', blockTargetBytes: 4096 })),
);
const footer = (
  await SegmentReader.open(async (o, l) => good.subarray(o, o + l), good.length, { key: KEY })
).footer;

/** A copy of the segment with one byte flipped past the length field of each named block. */
function damaged(blocks: readonly number[], at = 20): Uint8Array {
  const bad = Uint8Array.from(good);
  for (const b of blocks) {
    const info = footer.blocks[b]!;
    bad[info.offset + 4 + (at % (info.length - 4))] ^= 0x5a;
  }
  return bad;
}

describe('segment readers in skip mode', () => {
  it('yield exactly the damaged blocks as corrupt (STRATA_E_SEGMENT_CORRUPT naming segment and block) and every other record intact', async () => {
    expect(footer.blocks.length).toBeGreaterThan(10);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: footer.blocks.length - 1 }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        async (blocks, at) => {
          const bad = damaged(blocks, at);
          const reader = await SegmentReader.open(
            async (o, l) => bad.subarray(o, o + l),
            bad.length,
            { key: KEY },
          );
          const kept: number[] = [];
          const skipped: number[] = [];
          for await (const b of reader.blocks({}, { skipCorrupt: true })) {
            if (b.corrupt) {
              skipped.push(b.index);
              expect(b.records).toEqual([]);
              expect(isStrataError(b.corrupt, 'STRATA_E_SEGMENT_CORRUPT')).toBe(true);
              expect(b.corrupt.details).toEqual({
                key: KEY,
                block: b.index,
                offset: b.info.offset,
              });
            } else for (const r of b.records) kept.push(r.n as number);
          }
          expect(skipped).toEqual([...blocks].sort((x, y) => x - y));
          const lost = new Set(
            blocks.flatMap((b) =>
              timed
                .slice(blockStart(b), blockStart(b) + footer.blocks[b]!.count)
                .map((t) => t.record.n as number),
            ),
          );
          expect(kept).toEqual(timed.map((t) => t.record.n as number).filter((n) => !lost.has(n)));

          const streamed: { skipped: number[]; kept: number } = { skipped: [], kept: 0 };
          for await (const b of readSegmentStream([bad], { key: KEY, skipCorrupt: true })) {
            if (b.corrupt) streamed.skipped.push(b.index);
            else streamed.kept += b.records.length;
          }
          expect(streamed).toEqual({ skipped, kept: kept.length });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('without skip mode, still stop at the first damaged block', async () => {
    const bad = damaged([3]);
    const reader = await SegmentReader.open(async (o, l) => bad.subarray(o, o + l), bad.length, {
      key: KEY,
    });
    await expect(collect(reader.blocks())).rejects.toSatisfy(
      (e) =>
        isStrataError(e, 'STRATA_E_SEGMENT_CORRUPT') && (e as StrataError).details?.block === 3,
    );
    await expect(collect(readSegmentStream([bad], { key: KEY }))).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_SEGMENT_CORRUPT'),
    );
  });
});

function blockStart(b: number): number {
  return footer.blocks.slice(0, b).reduce((n, x) => n + x.count, 0);
}

// ---------------------------------------------------------------------------------------------
// Real map tasks over a dataset in a file store.

let t: TempStore;
let split: Split;
let records: Pv[]; // the split's records, in reading order
let blockOf: number[]; // block index of each record of the split
const workDir = () => path.join(t.dir, 'work');

beforeAll(async () => {
  t = await tempStore();
  const events = [...generatePageviews({ count: 6000, seed: 5, days: 1 })].map((e, seq) => ({
    url: e.url,
    time: e.time,
    seq,
  }));
  await ingest(t.store, 'pv', events, 8 * 1024);
  const splits = await splitsOf(t.store, 'pv', 1_000_000); // one split: the whole (only) segment
  expect(splits).toHaveLength(1);
  split = splits[0]!;
  records = [];
  blockOf = [];
  const reader = await SegmentReader.open(
    (o, l) => t.store.get(split.segmentKey, { start: o, end: o + l }),
    (await t.store.stat(split.segmentKey))!.size,
    { key: split.segmentKey },
  );
  for await (const b of reader.blocks())
    for (const r of b.records) (records.push(r as unknown as Pv), blockOf.push(b.index));
  expect(split.endBlock - split.startBlock).toBeGreaterThan(8);
});
afterAll(async () => {
  await t?.cleanup();
});

/**
 * Hourly pageviews; throws (after emitting!) on every record whose seq is a multiple of `every`,
 * and emits an unencodable key for the record after it. `every` 0: never.
 */
function flakyJob(every: number, badRecords?: { max: number }): AnyJob {
  return defineJob({
    name: 'flaky-pageviews',
    input: { dataset: 'pv' },
    map: (pv: Pv, emit) => {
      emit([pv.url, pv.time.slice(0, 13)], 1);
      if (every > 0 && pv.seq % every === 0) throw new TypeError(`no hour for seq ${pv.seq}`);
      if (every > 0 && pv.seq % every === 1) emit(undefined as unknown as string, 1); // an unencodable key: a bad record too
    },
    aggregate: count(),
    partitions: 3,
    ...(badRecords ? { badRecords } : {}),
  }) as AnyJob;
}

let attempt = 0;
function task(jobId: string, s: Split = split): MapTask {
  return {
    kind: 'map',
    jobId,
    taskId: 'm-0',
    attempt: ++attempt,
    codeHash: 'f'.repeat(64),
    split: s,
    partitions: 3,
    params: {},
  };
}

/** The counts a map output holds, by formatted key. */
async function outputCounts(file: string, job: AnyJob): Promise<Map<string, number>> {
  const run = await openRunFile(file);
  const out = new Map<string, number>();
  try {
    for (let p = 0; p < job.partitions; p++) {
      for await (const batch of run.entries(p))
        for (const [k, v] of batch)
          out.set(
            formatKey(decodeKey(k)),
            decodeAccumulator(job.aggregate!, unpackValue(v)) as number,
          );
    }
  } finally {
    await run.close();
  }
  return out;
}

function countsOf(rs: readonly Pv[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rs) {
    const k = formatKey([r.url, r.time.slice(0, 13)]);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

async function quarantineLines(key: string): Promise<Array<Record<string, unknown>>> {
  const text = new TextDecoder().decode(await t.store.get(key));
  return text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function failureOf(p: Promise<unknown>): Promise<StrataError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StrataError) return err;
    throw err;
  }
  throw new Error('expected the map task to fail');
}

/**
 * Damages one block of the stored segment in place (what a bad disk does), returning a restore
 * function.
 */
async function damageBlock(block: number): Promise<() => Promise<void>> {
  const file = path.join(t.dir, 'store', split.segmentKey);
  const original = await readFile(file);
  const info = (
    await SegmentReader.open(async (o, l) => original.subarray(o, o + l), original.length, {
      key: split.segmentKey,
    })
  ).footer.blocks[block]!;
  const bad = Buffer.from(original);
  bad[info.offset + Math.floor(info.length / 2)] ^= 0xff;
  await writeFile(file, bad);
  return () => writeFile(file, original);
}

describe('a map task meeting records its map throws on', () => {
  it('without a budget fails at the first one with STRATA_E_JOB_MAP_FAILED naming segment, block and record (unchanged)', async () => {
    const err = await failureOf(
      runMapTask(flakyJob(50), task('strict-map'), {
        store: t.store,
        workDir: workDir(),
        memoryBudgetBytes: 1 << 30,
      }),
    );
    expect(err.code).toBe('STRATA_E_JOB_MAP_FAILED');
    const first = records.findIndex((r) => r.seq % 50 === 0);
    expect(err.details).toMatchObject({
      segmentKey: split.segmentKey,
      block: blockOf[first],
      position: first,
    });
    expect(err.message).toContain('no hour for seq 0');
    expect(await collect(t.store.list(quarantinePrefix('strict-map')))).toEqual([]);
  });

  it('with a budget skips exactly the bad records and all they emitted, counts them, and quarantines each with its error and place', async () => {
    const job = flakyJob(50, { max: 1000 });
    const tk = task('tolerant-map');
    const outcome = await runMapTask(job, tk, {
      store: t.store,
      workDir: workDir(),
      memoryBudgetBytes: 32 * 1024,
    }); // spills too
    const bad = records.filter((r) => r.seq % 50 <= 1);
    expect(bad.length).toBeGreaterThan(100);
    expect(outcome.counters.badRecords).toBe(bad.length);
    expect(outcome.counters.recordsIn).toBe(records.length);
    expect(outcome.counters.recordsOut).toBe(records.length - bad.length);
    expect(outcome.counters.spills).toBeGreaterThan(0);
    // A record that threw half way left nothing behind: its first emit is not counted.
    expect(await outputCounts(outcome.path, job)).toEqual(
      countsOf(records.filter((r) => r.seq % 50 > 1)),
    );

    const lines = await quarantineLines(quarantineKey(tk));
    expect(lines).toHaveLength(bad.length);
    for (const line of lines) {
      const position = line.position as number;
      expect(line).toMatchObject({
        kind: 'record',
        segment: split.segmentKey,
        block: blockOf[position],
        value: records[position],
      });
      // `record` is the index inside the block: the segment, read again there, holds that very
      // record.
      expect(position - records.findIndex((_, i) => blockOf[i] === line.block)).toBe(line.record);
      const seq = (line.value as Pv).seq;
      if (seq % 50 === 0)
        expect(line).toMatchObject({
          code: 'STRATA_E_JOB_MAP_FAILED',
          error: `no hour for seq ${seq}`,
          stack: expect.stringMatching(/^TypeError: no hour/),
        });
      else
        expect(line).toMatchObject({
          code: 'STRATA_E_JOB_VALUE',
          error: expect.stringMatching(/emitted an invalid key undefined/),
        });
    }
  });

  it('that alone passes the budget stops with STRATA_E_JOB_BAD_RECORDS saying how many, where the quarantine is and how to raise it', async () => {
    const tk = task('small-budget');
    const err = await failureOf(
      runMapTask(flakyJob(50, { max: 10 }), tk, {
        store: t.store,
        workDir: workDir(),
        memoryBudgetBytes: 1 << 30,
      }),
    );
    expect(err.code).toBe('STRATA_E_JOB_BAD_RECORDS');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /map task m-0 alone met 11 bad records, more than the job's budget of badRecords\.max = 10/,
    );
    expect(err.message).toContain(
      `quarantined in ${quarantineKey(tk)} (strata status small-budget --quarantine`,
    );
    expect(err.message).toMatch(/raise the budget: badRecords: \{ max: 100 \} in defineJob/);
    expect(err.details).toMatchObject({ badRecords: 11, max: 10, quarantine: quarantineKey(tk) });
    expect(await quarantineLines(quarantineKey(tk))).toHaveLength(11); // what it met before it stopped
  });
});

describe('a map task meeting a damaged segment block', () => {
  it('without a budget stops with STRATA_E_SEGMENT_CORRUPT naming the segment key and the block, and how to skip it', async () => {
    const damagedBlock = split.startBlock + 4;
    const restore = await damageBlock(damagedBlock);
    try {
      const err = await failureOf(
        runMapTask(flakyJob(0), task('rotten-strict'), {
          store: t.store,
          workDir: workDir(),
          memoryBudgetBytes: 1 << 30,
        }),
      );
      expect(err.code).toBe('STRATA_E_SEGMENT_CORRUPT');
      expect(err.message).toContain(`segment ${split.segmentKey} block ${damagedBlock} at byte`);
      expect(err.message).toMatch(/CRC32 mismatch.*badRecords: \{ max: N \}/s);
      expect(err.details).toMatchObject({
        key: split.segmentKey,
        block: damagedBlock,
        taskId: 'm-0',
      });
    } finally {
      await restore();
    }
  });

  it('with a budget skips that block whole, counts its records as bad and quarantines one line for it', async () => {
    const damagedBlock = split.startBlock + 4;
    const lost = records.filter((_, i) => blockOf[i] === damagedBlock);
    const restore = await damageBlock(damagedBlock);
    try {
      const job = flakyJob(0, { max: lost.length });
      const tk = task('rotten-tolerant');
      const outcome = await runMapTask(job, tk, {
        store: t.store,
        workDir: workDir(),
        memoryBudgetBytes: 1 << 30,
      });
      expect(outcome.counters.badRecords).toBe(lost.length);
      expect(outcome.counters.recordsIn).toBe(records.length - lost.length);
      expect(await outputCounts(outcome.path, job)).toEqual(
        countsOf(records.filter((_, i) => blockOf[i] !== damagedBlock)),
      );
      const lines = await quarantineLines(quarantineKey(tk));
      expect(lines).toEqual([
        {
          kind: 'block',
          segment: split.segmentKey,
          block: damagedBlock,
          offset: expect.any(Number),
          records: lost.length,
          code: 'STRATA_E_SEGMENT_CORRUPT',
          error: expect.stringMatching(/CRC32 mismatch/),
        },
      ]);
      // One record fewer in the budget than the block held: the block alone passes it.
      const over = await failureOf(
        runMapTask(flakyJob(0, { max: lost.length - 1 }), task('rotten-over'), {
          store: t.store,
          workDir: workDir(),
          memoryBudgetBytes: 1 << 30,
        }),
      );
      expect(over.code).toBe('STRATA_E_JOB_BAD_RECORDS');
      expect(over.message).toContain(
        `block ${damagedBlock} of ${split.segmentKey} (${lost.length} records) is damaged`,
      );
    } finally {
      await restore();
    }
  });
});

describe('the job-wide budget (coordinator/bad-record-budget.ts)', () => {
  const map = (taskId: string, state: string, badRecords: number): BudgetTask => ({
    taskId,
    kind: 'map',
    state,
    counters: { ...emptyCounters(), badRecords },
  });
  const job = (max?: number) => ({
    id: 'j42',
    spec: { name: 'pv', ...(max === undefined ? {} : { badRecords: { max } }) },
  });

  it('sums the succeeded maps only and fails past max with how many, where and how to raise it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('succeeded', 'running', 'failed', 'queued'),
            fc.nat(50),
            fc.boolean(),
          ),
        ),
        fc.nat(300),
        (specs, max) => {
          const tasks: BudgetTask[] = specs.map(([state, n, isMap], i) =>
            isMap
              ? map(`m-${i}`, state, n)
              : { taskId: `r-${i}`, kind: 'reduce', state, counters: { badRecords: n } },
          );
          const total = specs.reduce(
            (s, [state, n, isMap]) => s + (isMap && state === 'succeeded' ? n : 0),
            0,
          );
          const err = badRecordBudgetError(job(max), tasks);
          if (total <= max) {
            expect(err).toBeUndefined();
            return;
          }
          expect(err?.code).toBe('STRATA_E_JOB_BAD_RECORDS');
          expect(err?.details).toMatchObject({
            jobId: 'j42',
            badRecords: total,
            max,
            quarantine: 'quarantine/j42/',
          });
          expect(err?.message).toContain(`met ${total.toLocaleString('en-US')} bad records`);
          expect(err?.message).toContain(
            `budget of badRecords.max = ${max.toLocaleString('en-US')}`,
          );
          expect(err?.message).toContain('quarantine/j42/ (strata status j42 --quarantine');
          expect(err?.message).toMatch(/raise the budget: badRecords: \{ max: \d+ \}/);
        },
      ),
    );
  });

  it('without a budget any bad record is over it; with none met there is nothing to say', () => {
    expect(badRecordBudgetError(job(), [map('m-0', 'succeeded', 0)])).toBeUndefined();
    expect(badRecordBudgetError(job(), [map('m-0', 'succeeded', 1)])?.message).toMatch(
      /^job 'pv': its map tasks met 1 bad records \(in 1 task; most in m-0: 1\), more than its budget of badRecords\.max = 0\./,
    );
  });

  it('names the quarantine folder the map tasks write their files into', () => {
    expect(quarantineKey({ jobId: 'j42', taskId: 'm-7', attempt: 2 })).toBe(
      `${quarantinePrefix('j42')}m-7-a2.ndjson`,
    );
    expect(badRecordBudgetError(job(), [map('m-0', 'succeeded', 1)])?.message).toContain(
      quarantinePrefix('j42'),
    );
  });

  it('is accepted in a posted job spec, and a malformed one is refused', () => {
    const spec = {
      name: 'pv',
      view: 'pv',
      input: { dataset: 'pv' },
      partitions: 2,
      reduce: 'aggregate:count',
      combine: true,
      params: {},
      codeHash: 'a'.repeat(64),
    };
    expect(parseJobSpec({ ...spec, badRecords: { max: 5 } }).badRecords).toEqual({ max: 5 });
    expect(parseJobSpec(spec).badRecords).toBeUndefined();
    for (const bad of [{ max: -1 }, { max: 1.5 }, { max: 5, extra: 1 }, 5]) {
      expect(() => parseJobSpec({ ...spec, badRecords: bad })).toThrow(/badRecords/);
    }
  });
});
