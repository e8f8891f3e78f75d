/**
 * The job/task state machine, moved by the Lua scripts against a real redis-server: allowed
 * transitions happen, refused ones change nothing, a terminal state is never left, a stale
 * attempt's answer is refused, retries count and run out.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import {
  JOB_STATES,
  JOB_TRANSITIONS,
  TERMINAL_JOB_STATES,
} from '../../coordinator/state/job-state.ts';
import { JobStore, newJobId, type NewTask } from '../../coordinator/state/job-store.ts';
import { TASK_TRANSITIONS, TERMINAL_TASK_STATES } from '../../coordinator/state/task-state.ts';
import type { JobSpec } from '../../core/tasks/task-payload.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { randomPrefix } from './coordinator-fixture.ts';

const spec: JobSpec = {
  name: 'j',
  view: 'v',
  input: { dataset: 'd' },
  partitions: 2,
  reduce: 'reduce',
  combine: false,
  params: { k: 1 },
  codeHash: 'a'.repeat(64),
};
const split = {
  segmentKey: 'master/d/dt=2026-01-01/x.seg',
  startBlock: 0,
  endBlock: 3,
  startOffset: 8,
  endOffset: 123_456_789_012_345,
  records: 10,
};
const tasks: NewTask[] = [
  { taskId: 'm-0', kind: 'map', split },
  { taskId: 'm-1', kind: 'map', split: { ...split, startBlock: 3, endBlock: 4 } },
  { taskId: 'r-0', kind: 'reduce', partition: 0 },
  { taskId: 'r-1', kind: 'reduce', partition: 1 },
];
const input = {
  segments: [{ key: split.segmentKey, size: 100, records: 10 }],
  minTime: null,
  maxTime: null,
};

let redis: TestRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startTestRedis();
  conn = await connectRedis(redis.url, { role: 'command' });
});
afterAll(async () => {
  conn?.disconnect();
  await redis?.stop();
});

async function newJob(): Promise<{ store: JobStore; id: string }> {
  const store = new JobStore(conn, randomPrefix());
  const id = newJobId();
  expect(
    await store.createJob(
      { id, spec, input, inputBytes: 100, inputRecords: 10, submitted: 1000 },
      tasks,
    ),
  ).toBe(true);
  return { store, id };
}

describe('job state machine', () => {
  it('the transition table never leads out of a terminal state, and every state is reachable', () => {
    const targets = new Set<string>(['planning']);
    for (const t of Object.values(JOB_TRANSITIONS)) {
      for (const from of t.from) expect(TERMINAL_JOB_STATES).not.toContain(from);
      targets.add(t.to);
    }
    expect([...targets].sort()).toEqual([...JOB_STATES].sort());
    for (const t of Object.values(TASK_TRANSITIONS))
      for (const from of t.from) expect(TERMINAL_TASK_STATES).not.toContain(from);
  });

  it('a new job is planning, live, listed, with every task pending at attempt 1', async () => {
    const { store, id } = await newJob();
    const job = await store.getJob(id);
    expect(job).toMatchObject({
      id,
      state: 'planning',
      spec,
      input,
      inputBytes: 100,
      maps: 2,
      reduces: 2,
      submitted: 1000,
    });
    expect(await store.liveJobIds()).toEqual([id]);
    expect(await store.listJobIds()).toEqual([id]);
    const recs = await store.getTasks(id);
    expect(recs.map((t) => [t.taskId, t.state, t.attempt, t.failures])).toEqual([
      ['m-0', 'pending', 1, 0],
      ['m-1', 'pending', 1, 0],
      ['r-0', 'pending', 1, 0],
      ['r-1', 'pending', 1, 0],
    ]);
    // Nested values survive Redis's cjson exactly (15-digit offsets included).
    expect(recs[0]!.split).toEqual(split);
    expect(
      await store.createJob(
        { id, spec, input, inputBytes: 1, inputRecords: 1, submitted: 2 },
        tasks,
      ),
    ).toBe(false);
  });

  it('a job moves through its phases in order and refuses to skip one', async () => {
    const { store, id } = await newJob();
    expect(await store.moveJob(id, 'startReducing')).toEqual({ ok: false, current: 'planning' });
    expect(await store.moveJob(id, 'startMapping', { started: 5 })).toEqual({
      ok: true,
      from: 'planning',
    });
    expect(await store.moveJob(id, 'startMapping')).toEqual({ ok: false, current: 'mapping' });
    expect(await store.moveJob(id, 'startCommit')).toEqual({ ok: false, current: 'mapping' });
    expect((await store.moveJob(id, 'startReducing')).ok).toBe(true);
    expect((await store.moveJob(id, 'startCommit', { version: 'v0000000000001-x' })).ok).toBe(true);
    expect((await store.finishJob(id, 'cancel')).ok).toBe(false); // a committing job is not cancelled
    expect(await store.finishJob(id, 'succeed', { version: 'v0000000000001-x' })).toEqual({
      ok: true,
      from: 'committing',
      activeTasks: [],
    });
    const job = await store.getJob(id);
    expect(job).toMatchObject({ state: 'succeeded', started: 5, version: 'v0000000000001-x' });
    expect(job!.finished).toBeGreaterThan(0);
    expect(await store.liveJobIds()).toEqual([]);
  });

  it('a terminal job is never left: every transition is refused and its tasks are frozen', async () => {
    for (const end of ['fail', 'cancel'] as const) {
      const { store, id } = await newJob();
      await store.moveJob(id, 'startMapping');
      const err = new StrataError('STRATA_E_JOB_MAP_FAILED', 'boom').toJSON();
      expect((await store.finishJob(id, end, { error: err })).ok).toBe(true);
      const state = end === 'fail' ? 'failed' : 'cancelled';
      for (const t of ['startMapping', 'startReducing', 'startCommit'] as const)
        expect(await store.moveJob(id, t)).toEqual({ ok: false, current: state });
      for (const t of ['succeed', 'fail', 'cancel'] as const)
        expect(await store.finishJob(id, t)).toEqual({ ok: false, current: state });
      expect(await store.moveTask(id, 'm-0', 'enqueue', { attempt: 1 })).toMatchObject({
        ok: false,
        reason: `job-${state}`,
      });
      expect((await store.getJob(id))!.error).toMatchObject({
        code: 'STRATA_E_JOB_MAP_FAILED',
        message: 'boom',
      });
    }
  });

  it('failing or cancelling a job cancels its unfinished tasks at once and names the ones on the queue', async () => {
    const { store, id } = await newJob();
    await store.moveJob(id, 'startMapping');
    await store.moveTask(id, 'm-0', 'enqueue', { attempt: 1 });
    await store.moveTask(id, 'm-1', 'enqueue', { attempt: 1 });
    await store.moveTask(id, 'm-1', 'succeed', { attempt: 1 });
    const done = await store.finishJob(id, 'cancel');
    expect(done).toEqual({
      ok: true,
      from: 'mapping',
      activeTasks: [{ taskId: 'm-0', attempt: 1 }],
    });
    expect((await store.getTasks(id)).map((t) => t.state)).toEqual([
      'cancelled',
      'succeeded',
      'cancelled',
      'cancelled',
    ]);
  });

  it('a task moves pending → queued → running → succeeded, refusing moves from the wrong state', async () => {
    const { store, id } = await newJob();
    expect(await store.moveTask(id, 'm-0', 'start', { attempt: 1 })).toMatchObject({
      ok: false,
      reason: 'state',
      current: 'pending',
    });
    expect(await store.moveTask(id, 'm-0', 'succeed', { attempt: 1 })).toMatchObject({
      ok: false,
      reason: 'state',
    });
    expect(await store.moveTask(id, 'm-0', 'enqueue', { attempt: 1 })).toEqual({
      ok: true,
      from: 'pending',
      attempt: 1,
    });
    expect(await store.moveTask(id, 'm-0', 'enqueue', { attempt: 1 })).toMatchObject({
      ok: false,
      current: 'queued',
    });
    expect(
      (await store.moveTask(id, 'm-0', 'start', { attempt: 1, patch: { worker: 'w9' } })).ok,
    ).toBe(true);
    const counters = {
      recordsIn: 10,
      recordsOut: 4,
      bytesIn: 99_999_999_999_999,
      bytesOut: 0,
      badRecords: 0,
      spills: 0,
      spilledBytes: 0,
      shuffleBytes: 0,
      durationMs: 3,
    };
    const output = { taskId: 'm-0', mapOutputId: `${id}/m-0-a1`, address: '127.0.0.1:5' };
    expect(
      (await store.moveTask(id, 'm-0', 'succeed', { attempt: 1, patch: { output, counters } })).ok,
    ).toBe(true);
    const rec = (await store.getTask(id, 'm-0'))!;
    expect(rec).toMatchObject({ state: 'succeeded', attempt: 1, worker: 'w9', output, counters });
    expect(rec.queuedAt).toBeGreaterThan(0);
    expect(rec.runningAt).toBeGreaterThan(0);
    expect(rec.succeededAt).toBeGreaterThan(0);
    expect(await store.moveTask(id, 'nope', 'enqueue')).toMatchObject({
      ok: false,
      reason: 'no-task',
    });
  });

  it('a late answer from an older attempt is refused and changes nothing', async () => {
    const { store, id } = await newJob();
    await store.moveTask(id, 'm-0', 'enqueue', { attempt: 1 });
    const error = new StrataError('STRATA_E_STORE_IO', 'flaky').toJSON();
    expect(
      await store.retryTask(id, 'm-0', 'retry', {
        attempt: 1,
        counted: true,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toEqual({ ok: true, from: 'queued', attempt: 2 });
    const before = await store.getTask(id, 'm-0');
    expect(before).toMatchObject({
      state: 'pending',
      attempt: 2,
      failures: 1,
      lastError: { code: 'STRATA_E_STORE_IO' },
    });
    await store.moveTask(id, 'm-0', 'enqueue', { attempt: 2 });
    expect(await store.moveTask(id, 'm-0', 'succeed', { attempt: 1 })).toMatchObject({
      ok: false,
      reason: 'attempt',
      current: 'queued',
      attempt: 2,
    });
    expect(
      await store.retryTask(id, 'm-0', 'retry', {
        attempt: 1,
        counted: true,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toMatchObject({ ok: false, reason: 'attempt' });
    expect((await store.getTask(id, 'm-0'))!.attempt).toBe(2);
  });

  it('a task that fails maxFailures times becomes failed, and failed is never left', async () => {
    const { store, id } = await newJob();
    const error = new StrataError('STRATA_E_STORE_IO', 'flaky').toJSON();
    for (let attempt = 1; attempt <= 2; attempt++) {
      await store.moveTask(id, 'r-0', 'enqueue', { attempt });
      expect(
        await store.retryTask(id, 'r-0', 'retry', {
          attempt,
          counted: true,
          maxFailures: 3,
          maxAttempts: 12,
          error,
        }),
      ).toMatchObject({ ok: true, attempt: attempt + 1 });
    }
    await store.moveTask(id, 'r-0', 'enqueue', { attempt: 3 });
    expect(
      await store.retryTask(id, 'r-0', 'retry', {
        attempt: 3,
        counted: true,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toEqual({ ok: false, reason: 'exhausted', failures: 3, attempt: 3 });
    expect(await store.getTask(id, 'r-0')).toMatchObject({
      state: 'failed',
      failures: 3,
      error: { code: 'STRATA_E_STORE_IO' },
    });
    for (const t of ['enqueue', 'start', 'succeed', 'fail'] as const)
      expect(await store.moveTask(id, 'r-0', t)).toMatchObject({
        ok: false,
        reason: 'terminal',
        current: 'failed',
      });
    expect(
      await store.retryTask(id, 'r-0', 'retry', {
        attempt: 3,
        counted: true,
        maxFailures: 9,
        maxAttempts: 12,
        error,
      }),
    ).toMatchObject({ ok: false, reason: 'terminal' });
  });

  it('an uncounted re-run of a succeeded map keeps its failure count but is bounded in attempts; error details keep empty arrays', async () => {
    const { store, id } = await newJob();
    const error = new StrataError('STRATA_E_SHUFFLE_FETCH_FAILED', 'gone', {
      details: { mapOutputId: `${id}/m-0-a1`, tried: [] },
    }).toJSON();
    for (let attempt = 1; attempt <= 2; attempt++) {
      await store.moveTask(id, 'm-0', 'enqueue', { attempt });
      await store.moveTask(id, 'm-0', 'succeed', { attempt });
      expect(
        await store.retryTask(id, 'm-0', 'retry', {
          attempt,
          counted: false,
          maxFailures: 1,
          maxAttempts: 3,
          error,
        }),
      ).toMatchObject({ ok: false, reason: 'state', current: 'succeeded' });
      expect(
        await store.retryTask(id, 'm-0', 'rerun', {
          attempt,
          counted: false,
          maxFailures: 1,
          maxAttempts: 3,
          error,
        }),
      ).toMatchObject({ ok: true, from: 'succeeded', attempt: attempt + 1 });
    }
    const rec = (await store.getTask(id, 'm-0'))!;
    expect(rec).toMatchObject({ state: 'pending', attempt: 3, failures: 0 });
    expect(rec.output).toBeUndefined();
    expect(rec.lastError!.details).toEqual({ mapOutputId: `${id}/m-0-a1`, tried: [] });
    await store.moveTask(id, 'm-0', 'enqueue', { attempt: 3 });
    await store.moveTask(id, 'm-0', 'succeed', { attempt: 3 });
    expect(
      await store.retryTask(id, 'm-0', 'rerun', {
        attempt: 3,
        counted: false,
        maxFailures: 1,
        maxAttempts: 3,
        error,
      }),
    ).toMatchObject({ ok: false, reason: 'exhausted' });
  });

  it('a non-retryable failure counts once and keeps the error whole', async () => {
    const { store, id } = await newJob();
    await store.moveTask(id, 'm-1', 'enqueue', { attempt: 1 });
    const err = new StrataError('STRATA_E_JOB_MAP_FAILED', 'map threw at record 3', {
      details: { block: 0, record: 3 },
    });
    err.stack = 'StrataError: map threw\n    at userMap (job.ts:3:9)';
    expect(
      (await store.moveTask(id, 'm-1', 'fail', { attempt: 1, patch: { error: err.toJSON() } })).ok,
    ).toBe(true);
    expect(await store.getTask(id, 'm-1')).toMatchObject({
      state: 'failed',
      failures: 1,
      error: {
        code: 'STRATA_E_JOB_MAP_FAILED',
        message: 'map threw at record 3',
        stack: err.stack,
        details: { block: 0, record: 3 },
      },
    });
  });
});
