/**
 * Map and reduce tasks over real segments in a file store, with the shuffle over real gRPC: the
 * views they write equal runLocal over the same records, spilling changes nothing, and failures
 * in user code or in the shuffle say where they happened.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, defineJob, runLocal, type JobDefinition } from 'strata';
import { isStrataError, StrataError } from '../../core/errors.ts';
import { compareBytes, decodeKey, encodeKey } from '../../core/keys/key-codec.ts';
import { partitionOf } from '../../core/keys/partition.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import {
  mapOutputId,
  type MapOutputLocation,
  type MapTask,
  type ReduceTask,
  type Split,
} from '../../core/tasks/task-payload.ts';
import { storeSource } from '../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../core/viewfile/view-file-reader.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import pageviews from '../../examples/web-analytics/pageviews.ts';
import { mapOutputPath } from '../../worker/map-outputs.ts';
import { runMapTask } from '../../worker/map/run-map-task.ts';
import { runReduceTask } from '../../worker/reduce/run-reduce-task.ts';
import { openRunFile } from '../../worker/shuffle/run-file.ts';
import { closeShuffleClients } from '../../worker/shuffle/shuffle-client.ts';
import { startShuffleServer, type ShuffleServer } from '../../worker/shuffle/shuffle-server.ts';
import { unpackValue } from '../../worker/shuffle-value.ts';
import durationByCountry from './fixtures/duration-by-country.ts';
import throwsOnRecord from './fixtures/throws-on-record.ts';
import visitsInOrder from './fixtures/visits-in-order.ts';
import {
  ingest,
  mapTasks,
  splitsOf,
  tempStore,
  type TempStore,
} from './support/worker-fixtures.ts';

type AnyJob = JobDefinition<unknown, unknown, unknown>;
const TOKEN = 'test-shuffle-token';
const jobs: Record<string, AnyJob> = {
  'count (aggregate)': pageviews as AnyJob,
  'list (reduce, no combine, order-sensitive)': visitsInOrder as AnyJob,
  'combine + reduce': durationByCountry as AnyJob,
};

let t: TempStore;
let workDir: string;
let splits: Split[];
let server: ShuffleServer;
let inputs: Record<string, unknown>[];

beforeAll(async () => {
  t = await tempStore();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-work-'));
  const records = [...generatePageviews({ count: 12_000, seed: 3, days: 3 })].map((e, seq) => ({
    ...e,
    seq,
  }));
  await ingest(t.store, 'pageviews', records);
  splits = await splitsOf(t.store, 'pageviews', 5);
  // The records in the order the map tasks read them: what runLocal must be given.
  inputs = [];
  for (const s of splits)
    for await (const r of (await openSegment(t.store, s.segmentKey)).records({
      fromBlock: s.startBlock,
      toBlock: s.endBlock,
    }))
      inputs.push(r);
  server = await startShuffleServer({ token: TOKEN, resolve: (id) => mapOutputPath(workDir, id) });
});

afterAll(async () => {
  closeShuffleClients();
  await server?.stop();
  await rm(workDir, { recursive: true, force: true });
  await t?.cleanup();
});

/** A map output as [key hex, values] per partition, a key's values joined over repeated entries. */
async function readOutput(
  file: string,
  partitions: number,
  kind: 'aggregate' | 'list',
): Promise<Array<Array<[string, unknown[]]>>> {
  const run = await openRunFile(file);
  const out: Array<Array<[string, unknown[]]>> = [];
  for (let p = 0; p < partitions; p++) {
    const rows: Array<[string, unknown[]]> = [];
    for await (const batch of run.entries(p)) {
      for (const [k, v] of batch) {
        const id = Buffer.from(k).toString('hex');
        const values = kind === 'aggregate' ? [unpackValue(v)] : (unpackValue(v) as unknown[]);
        if (rows.at(-1)?.[0] === id) rows.at(-1)![1].push(...values);
        else rows.push([id, values]);
      }
    }
    out.push(rows);
  }
  await run.close();
  return out;
}

async function runJob(
  job: AnyJob,
  jobId: string,
  budget: (i: number) => number,
): Promise<{ views: Array<[unknown[], unknown]>; spills: number }> {
  const tasks = mapTasks(jobId, 'f'.repeat(64), splits, job.partitions);
  let spills = 0;
  const locations: MapOutputLocation[] = [];
  for (const [i, task] of tasks.entries()) {
    const outcome = await runMapTask(job, task, {
      store: t.store,
      workDir,
      memoryBudgetBytes: budget(i),
    });
    spills += outcome.counters.spills;
    expect(outcome.counters.recordsIn).toBe(task.split.records);
    locations.push({
      taskId: task.taskId,
      mapOutputId: outcome.mapOutputId,
      address: server.address,
    });
  }
  const views: Array<[Uint8Array, unknown]> = [];
  for (let p = 0; p < job.partitions; p++) {
    const task: ReduceTask = {
      kind: 'reduce',
      jobId,
      taskId: `r-${p}`,
      attempt: 1,
      codeHash: 'f'.repeat(64),
      partition: p,
      mapOutputs: locations,
      outputKey: `tmp/jobs/${jobId}/r-${p}-a1.sv`,
      params: {},
    };
    const outcome = await runReduceTask(job, task, { store: t.store, token: TOKEN });
    const reader = await ViewFileReader.open(await storeSource(t.store, task.outputKey));
    expect(reader.count).toBe(outcome.counters.recordsOut);
    for await (const [key, value] of reader.entries()) {
      expect(partitionOf(key, job.partitions)).toBe(p);
      views.push([encodeKey(key), value]);
    }
    await reader.close();
  }
  views.sort((a, b) => compareBytes(a[0], b[0]));
  return { views: views.map(([k, v]) => [decodeKey(k), v]), spills };
}

describe('map and reduce tasks', () => {
  for (const [name, job] of Object.entries(jobs)) {
    it(`${name}: reduce tasks fetching map outputs over gRPC write views equal to runLocal, with or without spills`, async () => {
      const expected = await runLocal(job, inputs);
      const plain = await runJob(job, `plain-${job.name}`, () => 1024 * 1024 * 1024);
      expect(plain.spills).toBe(0);
      expect(plain.views).toEqual(expected);
      const spilled = await runJob(job, `spilled-${job.name}`, (i) =>
        i % 2 === 0 ? 16 * 1024 : 1024 * 1024 * 1024,
      );
      expect(spilled.spills).toBeGreaterThan(splits.length);
      expect(spilled.views).toEqual(expected);
    });

    it(`${name}: a map task with a tiny memory budget spills several times and leaves the same output as without`, async () => {
      const split: Split = {
        ...splits[0]!,
        endBlock:
          splits.at(-1)!.segmentKey === splits[0]!.segmentKey
            ? splits.at(-1)!.endBlock
            : splits[0]!.endBlock,
      };
      const task = (attempt: number): MapTask => ({
        kind: 'map',
        jobId: 'same-output',
        taskId: `m-${job.name}`,
        attempt,
        codeHash: 'f'.repeat(64),
        split,
        partitions: job.partitions,
        params: {},
      });
      const big = await runMapTask(job, task(1), {
        store: t.store,
        workDir,
        memoryBudgetBytes: 1 << 30,
      });
      const tiny = await runMapTask(job, task(2), {
        store: t.store,
        workDir,
        memoryBudgetBytes: 8 * 1024,
      });
      expect(big.counters.spills).toBe(0);
      expect(tiny.counters.spills).toBeGreaterThan(3);
      expect(tiny.counters.spilledBytes).toBeGreaterThan(0);
      expect(tiny.counters.recordsIn).toBe(big.counters.recordsIn);
      expect(tiny.counters.recordsOut).toBe(big.counters.recordsIn);
      const kind = job.aggregate ? 'aggregate' : 'list';
      expect(await readOutput(tiny.path, job.partitions, kind)).toEqual(
        await readOutput(big.path, job.partitions, kind),
      );
      // Spill files are gone once merged; only the output is left.
      expect(await readdir(path.dirname(tiny.path))).toEqual(['output.run']);
    });
  }

  it('a map that throws fails with STRATA_E_JOB_MAP_FAILED naming the segment, block and record, with the user error and stack as cause', async () => {
    const bad = inputs[7000] as { seq: number; time: string };
    let offset = 0;
    let target = splits[0]!;
    for (const s of splits) {
      if (7000 < offset + s.records) {
        target = s;
        break;
      }
      offset += s.records;
    }
    const task: MapTask = {
      kind: 'map',
      jobId: 'throws',
      taskId: 'm-0',
      attempt: 1,
      codeHash: 'f'.repeat(64),
      split: target,
      partitions: 2,
      params: { badSeq: bad.seq },
    };
    const err = await runMapTask(throwsOnRecord as AnyJob, task, {
      store: t.store,
      workDir,
      memoryBudgetBytes: 1 << 20,
    }).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_JOB_MAP_FAILED')).toBe(true);
    const e = err as StrataError;
    expect(e.retryable).toBe(false);
    expect(e.details).toMatchObject({
      job: 'throws-on-record',
      segmentKey: target.segmentKey,
      position: 7000 - offset,
    });
    const { block, recordIndex } = e.details as { block: number; recordIndex: number };
    const inBlock = (await openSegment(t.store, target.segmentKey)).blocks({
      fromBlock: block,
      toBlock: block + 1,
    });
    const { value: decoded } = await inBlock.next();
    expect((decoded!.records[recordIndex] as { seq: number }).seq).toBe(bad.seq);
    expect(e.message).toContain(
      `record ${recordIndex} of block ${block} of segment ${target.segmentKey}`,
    );
    expect(e.message).toContain(`The record: {"time":"${bad.time}"`);
    expect(e.cause).toBeInstanceOf(RangeError);
    expect((e.cause as Error).stack).toContain('throws-on-record.ts');
    // The error crosses a thread or process boundary intact.
    const back = StrataError.fromJSON(JSON.parse(JSON.stringify(e.toJSON())));
    expect(back.details).toEqual(e.details);
    expect((back.cause as Error).stack).toContain('throws-on-record.ts');
  });

  it('emit validates like runLocal: a bad key or a value that cannot cross the shuffle is STRATA_E_JOB_VALUE naming the record', async () => {
    const badKey = defineJob({
      name: 'bad-key',
      input: { dataset: 'pageviews' },
      map: (r: { seq: number }, emit) => emit(r.seq === 3 ? (null as unknown as string) : 'k', 1),
      aggregate: count(),
    });
    const badValue = defineJob({
      name: 'bad-value',
      input: { dataset: 'pageviews' },
      map: (_r, emit) => emit('k', { f: () => 1 }),
      reduce: (_k, v) => v.length,
    });
    const task: MapTask = {
      kind: 'map',
      jobId: 'emit',
      taskId: 'm-0',
      attempt: 1,
      codeHash: 'f'.repeat(64),
      split: splits[0]!,
      partitions: 8,
      params: {},
    };
    for (const [job, text] of [
      [
        badKey,
        /map emitted an invalid key null for the record at position \d+ of split m-0 \(record \d+ of block \d+ of segment /,
      ],
      [
        badValue,
        /map emitted a value for the record at position 0 .* cannot cross the shuffle: value\.f is a function/,
      ],
    ] as const) {
      const err = await runMapTask(job as AnyJob, task, {
        store: t.store,
        workDir,
        memoryBudgetBytes: 1 << 20,
      }).catch((e: unknown) => e);
      expect(isStrataError(err, 'STRATA_E_JOB_VALUE'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(text);
      await expect(runLocal(job as AnyJob, inputs.slice(0, 10))).rejects.toMatchObject({
        code: 'STRATA_E_JOB_VALUE',
      });
    }
  });

  it('a map output the shuffle server does not have fails the reduce with the fetch error naming that map output', async () => {
    const job = pageviews as AnyJob;
    const jobId = 'lost-output';
    const mapTask = mapTasks(jobId, 'f'.repeat(64), splits.slice(0, 1), job.partitions)[0]!;
    const ok = await runMapTask(job, mapTask, {
      store: t.store,
      workDir,
      memoryBudgetBytes: 1 << 20,
    });
    const lost = mapOutputId({ jobId, taskId: 'm-1', attempt: 1 });
    const reduce: ReduceTask = {
      kind: 'reduce',
      jobId,
      taskId: 'r-0',
      attempt: 1,
      codeHash: 'f'.repeat(64),
      partition: 0,
      mapOutputs: [
        { taskId: 'm-0', mapOutputId: ok.mapOutputId, address: server.address },
        { taskId: 'm-1', mapOutputId: lost, address: server.address },
      ],
      outputKey: `tmp/jobs/${jobId}/r-0-a1.sv`,
      params: {},
    };
    const err = await runReduceTask(job, reduce, { store: t.store, token: TOKEN }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED'), String(err)).toBe(true);
    expect((err as StrataError).details).toMatchObject({
      mapOutputId: lost,
      reason: 'not-found',
      partition: 0,
    });
    expect(await t.store.stat(reduce.outputKey)).toBeUndefined();

    const gone = {
      ...reduce,
      mapOutputs: [{ taskId: 'm-0', mapOutputId: ok.mapOutputId, address: '127.0.0.1:1' }],
    };
    const unreachable = await runReduceTask(job, gone, {
      store: t.store,
      token: TOKEN,
      fetch: { retries: 1, retryDelayMs: 10 },
    }).catch((e: unknown) => e);
    expect((unreachable as StrataError).details).toMatchObject({
      mapOutputId: ok.mapOutputId,
      reason: 'unavailable',
    });
  });
});
