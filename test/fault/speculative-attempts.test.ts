/**
 * Speculative attempts below the cluster level: which tasks count as stragglers (a pure
 * function), how a backup attempt moves through the task state machine (the Lua scripts against
 * a real redis-server), and a straggling reduce beaten by its backup end to end through a real
 * coordinator, Redis and BullMQ with a test-process worker: the winner's file is committed and
 * the loser's, arriving late, is removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { JobSpec, ReduceTask } from '../../core/tasks/task-payload.ts';
import { readManifest } from '../../core/views/view-layout.ts';
import { findStragglers, median } from '../../coordinator/schedule/speculation.ts';
import { startCoordinator } from '../../coordinator/start-coordinator.ts';
import { JobStore, newJobId, type NewTask } from '../../coordinator/state/job-store.ts';
import type { TaskRecord } from '../../coordinator/state/task-record.ts';
import {
  api,
  keysUnder,
  putBundle,
  randomPrefix,
  specFor,
  startFakeWorker,
  testConfig,
  waitForJob,
  writeDataset,
} from '../coordinator/coordinator-fixture.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

let redis: TestRedis;
let conn: Redis;
let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  redis = await startTestRedis();
  conn = await connectRedis(redis.url, { role: 'command' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-spec-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
});
afterAll(async () => {
  conn?.disconnect();
  await store?.close();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('findStragglers', () => {
  const settings = { multiplier: 3, minMs: 1000, quantile: 0.5 };
  const done = (id: string, ms: number): TaskRecord => ({
    taskId: id,
    kind: 'map',
    state: 'succeeded',
    attempt: 1,
    failures: 0,
    runningAt: 0,
    succeededAt: ms,
  });
  const running = (id: string, since: number, extra: Partial<TaskRecord> = {}): TaskRecord => ({
    taskId: id,
    kind: 'map',
    state: 'running',
    attempt: 1,
    failures: 0,
    runningAt: since,
    ...extra,
  });

  it('picks a task running longer than max(minMs, multiplier × median of its finished peers), oldest first', () => {
    const tasks = [
      done('m-0', 400),
      done('m-1', 500),
      done('m-2', 600),
      running('m-3', 8_000),
      running('m-4', 0),
      running('m-5', 9_500),
    ];
    expect(median([400, 500, 600])).toBe(500);
    // now 10 000: m-4 has run 10 s, m-3 2 s (> 1.5 s = 3 × median, > minMs), m-5 0.5 s.
    expect(findStragglers(tasks, 10_000, settings).map((t) => t.taskId)).toEqual(['m-4', 'm-3']);
    expect(
      findStragglers(tasks, 10_000, { ...settings, minMs: 5000 }).map((t) => t.taskId),
    ).toEqual(['m-4']);
    expect(
      findStragglers(tasks, 10_000, { ...settings, multiplier: 10 }).map((t) => t.taskId),
    ).toEqual(['m-4']); // 10 × 500 ms = 5 s
  });

  it('waits for enough finished peers of the same kind, and never backs up a task twice or with a backup running', () => {
    const tasks = [done('m-0', 100), running('m-1', 0), running('m-2', 0), running('m-3', 0)];
    expect(findStragglers(tasks, 60_000, settings)).toEqual([]); // 1 of 4 finished < 0.5
    expect(
      findStragglers(tasks, 60_000, { ...settings, quantile: 0.25 }).map((t) => t.taskId),
    ).toEqual(['m-1', 'm-2', 'm-3']);
    const reduces: TaskRecord[] = [
      { ...done('r-0', 100), kind: 'reduce' },
      { ...running('r-1', 0), kind: 'reduce' },
    ];
    expect(findStragglers([...tasks, ...reduces], 60_000, settings).map((t) => t.taskId)).toEqual([
      'r-1',
    ]); // maps' peers are maps, reduces' reduces
    expect(
      findStragglers(
        [
          done('m-0', 100),
          running('m-1', 0, { backup: 2 }),
          running('m-2', 0, { speculatedFor: 1 }),
          running('m-3', 0, { attempt: 2, speculatedFor: 1 }),
        ],
        60_000,
        { ...settings, quantile: 0.25 },
      ).map((t) => t.taskId),
    ).toEqual(['m-3']);
  });

  it('a multiplier of 0 turns speculation off', () => {
    expect(
      findStragglers([done('m-0', 1), running('m-1', 0)], 1e9, { ...settings, multiplier: 0 }),
    ).toEqual([]);
  });
});

describe('a backup attempt in the task state machine', () => {
  const spec: JobSpec = {
    name: 'j',
    view: 'v',
    input: { dataset: 'd' },
    partitions: 1,
    reduce: 'reduce',
    combine: false,
    params: {},
    codeHash: 'a'.repeat(64),
  };
  const split = {
    segmentKey: 'master/d/dt=2026-01-01/x.seg',
    startBlock: 0,
    endBlock: 1,
    startOffset: 8,
    endOffset: 100,
    records: 10,
  };
  const tasks: NewTask[] = [
    { taskId: 'm-0', kind: 'map', split },
    { taskId: 'r-0', kind: 'reduce', partition: 0 },
  ];
  const error = new StrataError('STRATA_E_STORE_IO', 'flaky').toJSON();

  async function runningMap(): Promise<{ jobs: JobStore; id: string }> {
    const jobs = new JobStore(conn, randomPrefix());
    const id = newJobId();
    await jobs.createJob(
      {
        id,
        spec,
        input: { segments: [], minTime: null, maxTime: null },
        inputBytes: 1,
        inputRecords: 1,
        submitted: 1,
      },
      tasks,
    );
    await jobs.moveJob(id, 'startMapping');
    await jobs.moveTask(id, 'm-0', 'enqueue', { attempt: 1 });
    await jobs.moveTask(id, 'm-0', 'start', { attempt: 1, patch: { worker: 'slow' } });
    return { jobs, id };
  }

  it('the backup takes the next attempt number; the first to succeed wins and names the loser; a late answer of the loser is refused', async () => {
    const { jobs, id } = await runningMap();
    expect(await jobs.speculateTask(id, 'm-0', 1)).toEqual({ ok: true, backup: 2 });
    expect(await jobs.speculateTask(id, 'm-0', 1)).toMatchObject({
      ok: false,
      reason: 'has-backup',
    });
    expect(
      (await jobs.moveTask(id, 'm-0', 'start', { attempt: 2, patch: { worker: 'fast' } })).ok,
    ).toBe(true);
    expect(await jobs.getTask(id, 'm-0')).toMatchObject({
      state: 'running',
      attempt: 1,
      worker: 'slow',
      backup: 2,
      backupState: 'running',
      backupWorker: 'fast',
      speculations: 1,
    });
    const output = { taskId: 'm-0', mapOutputId: `${id}/m-0-a2`, address: 'fast:1' };
    expect(
      await jobs.moveTask(id, 'm-0', 'succeed', { attempt: 2, patch: { worker: 'fast', output } }),
    ).toEqual({ ok: true, from: 'running', attempt: 2, loser: 1 });
    const rec = (await jobs.getTask(id, 'm-0'))!;
    expect(rec).toMatchObject({
      state: 'succeeded',
      attempt: 2,
      worker: 'fast',
      output,
      speculative: 1,
    });
    expect(rec.backup).toBeUndefined();
    expect(await jobs.moveTask(id, 'm-0', 'succeed', { attempt: 1 })).toMatchObject({
      ok: false,
      reason: 'state',
    });
  });

  it('the primary winning names the backup as the loser; a lost output later re-runs the task above every number used', async () => {
    const { jobs, id } = await runningMap();
    await jobs.speculateTask(id, 'm-0', 1);
    expect(await jobs.moveTask(id, 'm-0', 'succeed', { attempt: 1 })).toEqual({
      ok: true,
      from: 'running',
      attempt: 1,
      loser: 2,
    });
    expect(await jobs.getTask(id, 'm-0')).toMatchObject({
      state: 'succeeded',
      attempt: 1,
      maxAttempt: 2,
    });
    expect(
      await jobs.retryTask(id, 'm-0', 'rerun', {
        attempt: 1,
        counted: false,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toMatchObject({ ok: true, attempt: 3 });
  });

  it('a failed primary promotes its backup; a failed backup is dropped and the attempt is never backed up again', async () => {
    const { jobs, id } = await runningMap();
    await jobs.speculateTask(id, 'm-0', 1);
    expect(
      await jobs.retryTask(id, 'm-0', 'retry', {
        attempt: 1,
        counted: true,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toEqual({ ok: true, from: 'running', attempt: 2, promoted: true });
    expect(await jobs.getTask(id, 'm-0')).toMatchObject({
      state: 'queued',
      attempt: 2,
      failures: 1,
      speculative: 1,
    });

    const other = await runningMap();
    await other.jobs.speculateTask(other.id, 'm-0', 1);
    expect(await other.jobs.dropBackup(other.id, 'm-0', 2, error)).toBe(true);
    expect(await other.jobs.dropBackup(other.id, 'm-0', 2)).toBe(false);
    expect(await other.jobs.speculateTask(other.id, 'm-0', 1)).toMatchObject({
      ok: false,
      reason: 'speculated',
    });
    expect(
      await other.jobs.retryTask(other.id, 'm-0', 'retry', {
        attempt: 1,
        counted: true,
        maxFailures: 3,
        maxAttempts: 12,
        error,
      }),
    ).toMatchObject({ ok: true, attempt: 3 }); // 2 was the backup's
  });

  it('a stall puts the attempt back to queued and counts; failing the job names the backup among the attempts to cancel', async () => {
    const { jobs, id } = await runningMap();
    await jobs.speculateTask(id, 'm-0', 1);
    expect((await jobs.moveTask(id, 'm-0', 'stall', { attempt: 1 })).ok).toBe(true);
    expect((await jobs.moveTask(id, 'm-0', 'stall', { attempt: 2 })).ok).toBe(false); // the backup is queued, not running
    expect(await jobs.getTask(id, 'm-0')).toMatchObject({ state: 'queued', stalls: 1, backup: 2 });
    const finished = await jobs.finishJob(id, 'fail', { error });
    expect(finished).toMatchObject({
      ok: true,
      activeTasks: [
        { taskId: 'm-0', attempt: 1 },
        { taskId: 'm-0', attempt: 2 },
      ],
    });
  });
});

describe('a straggling reduce through a real coordinator', () => {
  it("gets a backup that wins; the commit takes the backup's file and the loser's late file is removed", async () => {
    const storeDir = path.join(dir, 'store');
    await writeDataset(store, 'pv', { days: 1, perDay: 200 });
    const codeHash = await putBundle(store);
    const config = testConfig({
      redisUrl: redis.url,
      storeDir,
      home: dir,
      overrides: { speculationMultiplier: 3, speculationMinMs: 300, speculationQuantile: 0.5 },
    });
    // Two workers heartbeat (speculation needs a second one to run the backup on).
    for (const w of ['w1', 'w2']) {
      await conn.hset(`${config.redisPrefix}:workers`, w, JSON.stringify({ id: w }));
      await conn.set(`${config.redisPrefix}:worker:${w}:alive`, '1', 'PX', 60_000);
    }
    const coordinator = await startCoordinator(config, { pollMs: 100 });
    let releaseLoser!: () => void;
    const loserMayFinish = new Promise<void>((r) => (releaseLoser = r));
    const worker = await startFakeWorker({
      redisUrl: redis.url,
      prefix: config.redisPrefix,
      store,
      behaviour: async (task, d) => {
        if (task.kind === 'map') return d.map();
        if (task.taskId === 'r-0' && task.attempt === 1) await loserMayFinish; // the straggler
        return d.reduce();
      },
    });
    try {
      const res = await api(coordinator.url, 'POST', '/v1/jobs', {
        spec: specFor(codeHash, { name: 'straggle', view: 'straggle' }),
      });
      expect(res.status).toBe(201);
      const id = res.json.id as string;
      const done = await waitForJob(coordinator.url, id, ['succeeded', 'failed']);
      expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.tasks.find((t: { taskId: string }) => t.taskId === 'r-0')).toMatchObject({
        state: 'succeeded',
        attempt: 2,
        speculative: true,
        speculations: 1,
      });
      expect(done.phases.reduce.speculative).toEqual({ launched: 1, won: 1, running: 0 });
      const manifest = await readManifest(store, 'straggle', done.version);
      expect(manifest.tasks.find((t) => t.taskId === 'r-0')!.attempts).toBe(2);

      releaseLoser();
      const loserFile = `tmp/jobs/${id}/r-0-a1.sv`;
      await expect.poll(() => worker.seen.filter((t) => t.taskId === 'r-0').length).toBe(2);
      await expect
        .poll(async () => (await store.stat(loserFile)) === undefined, { timeout: 10_000 })
        .toBe(true);
      expect(await keysUnder(store, `tmp/jobs/${id}/`)).toEqual([]);
      const seen = worker.seen.filter(
        (t): t is ReduceTask => t.kind === 'reduce' && t.taskId === 'r-0',
      );
      expect(seen.map((t) => t.outputKey).sort()).toEqual([loserFile, `tmp/jobs/${id}/r-0-a2.sv`]);
    } finally {
      releaseLoser();
      await worker.close();
      await coordinator.stop();
    }
  });
});
