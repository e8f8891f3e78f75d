/**
 * The control plane failing under a running job, on a real cluster whose Redis the test owns
 * (redis-server with the append-only file on, fsynced every second) and real coordinator and
 * worker processes:
 *
 * - the coordinator SIGKILLed mid-map and mid-reduce, a new one started on the same Redis: the
 *   job resumes from Redis, results that workers delivered while no coordinator listened are
 *   picked up from BullMQ (no task runs twice), and the view is byte-identical to a fault-free run;
 * - redis-server SIGKILLed mid-job and started again on its AOF: the job ends within a bounded
 *   time, succeeded with the same view or failed with a reason in its status (never a partial
 *   view), and every process reconnects by itself: a second job afterwards succeeds.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobStatus } from '../../cli/coordinator-client.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { readCurrentVersion } from '../../core/views/view-layout.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import {
  describe as show,
  since,
  startFaultCluster,
  task,
  VIEW,
  type FaultCluster,
} from './support/fault-cluster.ts';

let redis: TestRedis;
let f: FaultCluster;
let reference: Buffer[];

beforeAll(async () => {
  redis = await startTestRedis({ appendonly: true, appendfsync: 'everysec' });
  f = await startFaultCluster({
    workers: 3,
    redisUrl: redis.url,
    config: { speculationMultiplier: 0 },
  });
  reference = (await f.run({})).parts;
}, 120_000);
afterAll(async () => {
  await f?.stop();
  await redis?.stop();
}, 60_000);

const ofKind = (s: JobStatus, kind: 'map' | 'reduce') => s.tasks!.filter((t) => t.kind === kind);
const attempts = (s: JobStatus) => s.tasks!.map((t) => `${t.taskId}#${t.attempt}`);

/** Task attempts BullMQ has completed (whoever was or was not listening). */
async function completedOnQueue(): Promise<number> {
  return (await (await f.queue()).getJobCounts('completed')).completed!;
}

async function killCoordinator(): Promise<void> {
  process.kill(f.cluster.coordinator.pid, 'SIGKILL');
  await f.cluster.coordinator.exited;
}

/**
 * Kills the coordinator while `before` holds, waits until the workers, carrying on without it,
 * have completed `meanwhile` more task attempts, starts a new coordinator, and checks the job
 * finished with the fault-free view and every task at the attempt it had when the old one died.
 */
async function killAndResume(
  id: string,
  before: JobStatus,
  meanwhile: number,
  what: string,
): Promise<JobStatus> {
  const completed = await completedOnQueue();
  const t0 = performance.now();
  await killCoordinator();
  await expect
    .poll(completedOnQueue, { timeout: 20_000, interval: 50 })
    .toBeGreaterThanOrEqual(completed + meanwhile);
  const t1 = performance.now();
  await f.cluster.startCoordinator();
  const startedIn = since(t1);
  const done = await f.finished(id);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);
  expect(attempts(done)).toEqual(attempts(before)); // nothing ran twice
  console.log(
    `[recovery] coordinator killed ${what}: the new one started in ${startedIn} s and finished the job ${since(t1)} s after its start (${since(t0)} s after the kill)`,
  );
  return done;
}

it('the coordinator killed mid-map: a new one on the same Redis resumes the job and collects what finished meanwhile; no task runs twice; the view is byte-identical', async () => {
  const id = await f.submit({ mapPauseMs: 25 });
  const before = await f.waitFor(
    id,
    'some maps done, others running',
    (s) =>
      ofKind(s, 'map').filter((t) => t.state === 'succeeded').length >= 2 &&
      ofKind(s, 'map').some((t) => t.state === 'running'),
  );
  // The workers carry on without it: wait until they finish maps nobody has recorded yet.
  const done = await killAndResume(id, before, 2, 'mid-map');
  expect(done.tasks!.every((t) => !t.error && !t.stalls)).toBe(true);
});

it('the coordinator killed mid-reduce: a new one resumes the reduces and commits; the view is byte-identical', async () => {
  const id = await f.submit({});
  const before = await f.waitFor(
    id,
    'reduces running',
    (s) => s.state === 'reducing' && ofKind(s, 'reduce').some((t) => t.state === 'running'),
  );
  const done = await killAndResume(id, before, 1, 'mid-reduce');
  expect(task(done, 'r-0').state).toBe('succeeded');
});

it('redis-server killed mid-job and restarted on its AOF: the job ends in bounded time without a partial view, and every process reconnects: the next job succeeds', async () => {
  const current = await readCurrentVersion(f.cluster.store, VIEW);
  const id = await f.submit({ mapPauseMs: 25 });
  await f.waitFor(
    id,
    'some maps done, others running',
    (s) =>
      ofKind(s, 'map').filter((t) => t.state === 'succeeded').length >= 2 &&
      ofKind(s, 'map').some((t) => t.state === 'running'),
  );
  const t0 = performance.now();
  await redis.kill();
  // Down long enough for every process to notice (their commands fail, locks and heartbeats lapse).
  const probe = await connectRedis(redis.url, { role: 'command', name: 'fault-probe' }).catch(
    (err: unknown) => err,
  );
  expect(probe).toMatchObject({ code: 'STRATA_E_REDIS_UNAVAILABLE' });
  await new Promise((r) => setTimeout(r, 1500));
  await redis.restart();
  const restartedAfter = since(t0);

  const end = await f.finished(id, 90_000);
  const endedAfter = since(t0);
  const published = await readCurrentVersion(f.cluster.store, VIEW);
  if (end.state === 'succeeded') {
    expect(published).toBe(end.version);
    expect(await f.parts(end.version!)).toEqual(reference);
  } else {
    // A clean failure: a reason in the status, and the published version untouched.
    expect(end.error?.message, show(end)).toBeTruthy();
    expect(published).toBe(current);
  }

  const t1 = performance.now();
  const next = await f.run({});
  expect(next.parts).toEqual(reference);
  expect(f.liveWorkers()).toHaveLength(3); // nobody died of it
  console.log(
    `[recovery] redis killed mid-job: back ${restartedAfter} s after the kill; the job ${end.state} ${endedAfter} s after the kill; the next job took ${since(t1)} s`,
  );
});
