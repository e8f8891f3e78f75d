/**
 * Worker processes SIGKILLed on a real cluster (redis-server, coordinator, three workers, gRPC
 * shuffle) while they run a map, while they only serve their map outputs to the reduces, and while
 * they run a reduce: each time the job still succeeds and publishes part files byte-identical to a
 * fault-free run of the same job on the same data.
 *
 * What recovers what: a killed worker stops renewing its task's lock, so BullMQ's stall check
 * (lockDurationMs 2 s, stalledInterval 1 s here) puts the same attempt back on the queue for a
 * live worker (up to three stalls: a task killed twice still runs). The map outputs on its disk
 * die with it; a reduce that cannot reach that worker's shuffle server fails naming the output
 * (STRATA_E_SHUFFLE_FETCH_FAILED, reason 'unavailable'), and the coordinator re-runs every map that
 * worker served on live workers, then the reduce with the new locations. Kills are timed on
 * observed state (task states through the coordinator API, the worker registry, the queue), never
 * on a guess; a replacement worker is started after each kill, as an autoscaler would, and no job
 * waits for it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobStatus } from '../../cli/coordinator-client.ts';
import {
  describe as show,
  since,
  startFaultCluster,
  task,
  type FaultCluster,
} from './support/fault-cluster.ts';

let f: FaultCluster;
let reference: Buffer[];

beforeAll(async () => {
  f = await startFaultCluster({ workers: 3, config: { speculationMultiplier: 0 } });
  reference = (await f.run({})).parts;
}, 120_000);
afterAll(async () => {
  await f?.stop();
}, 60_000);

const ofKind = (s: JobStatus, kind: 'map' | 'reduce') => s.tasks!.filter((t) => t.kind === kind);

/** A worker that has finished a map of this job and is running another one now. */
function busyWorkerWithOutputs(
  s: JobStatus,
): { worker: string; running: string; finished: string[] } | undefined {
  const maps = s.tasks!.filter((t) => t.kind === 'map');
  for (const run of maps.filter((t) => t.state === 'running' && t.worker)) {
    const finished = maps
      .filter((t) => t.state === 'succeeded' && t.worker === run.worker)
      .map((t) => t.taskId);
    if (finished.length > 0) return { worker: run.worker!, running: run.taskId, finished };
  }
  return undefined;
}

it('a worker killed while it runs a map: the map runs again on a live worker, its finished maps are re-run when reduces cannot fetch them, the view is byte-identical', async () => {
  await f.ensureWorkers(3);
  const id = await f.submit({ mapPauseMs: 25 }); // ~1 s per map
  const before = await f.waitFor(
    id,
    'a worker with a finished map running another',
    (s) => busyWorkerWithOutputs(s) !== undefined,
  );
  const victim = busyWorkerWithOutputs(before)!;
  const t0 = performance.now();
  await f.kill(await f.workerService(victim.worker));
  const replacement = f.ensureWorkers(3); // as an autoscaler would; the job must not wait for it

  await f.waitFor(id, `${victim.running} running again elsewhere`, (s) => {
    const t = task(s, victim.running);
    return (t.state === 'running' || t.state === 'succeeded') && t.worker !== victim.worker;
  });
  const resumedAfter = since(t0);
  const done = await f.finished(id);
  const doneAfter = since(t0);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);

  // The interrupted map stalled and ran again (same attempt: a stall is not a failure).
  expect(task(done, victim.running)).toMatchObject({
    state: 'succeeded',
    attempt: task(before, victim.running).attempt,
    stalls: 1,
  });
  expect(task(done, victim.running).worker).not.toBe(victim.worker);
  // Its finished maps' outputs died with it: each ran again, as a later attempt, on a live worker.
  for (const m of victim.finished) {
    expect(task(done, m).attempt, show(done)).toBeGreaterThan(task(before, m).attempt);
    expect(task(done, m).worker).not.toBe(victim.worker);
  }
  // A reduce found out by failing to fetch one of them.
  expect(
    done.tasks!.some(
      (t) => t.kind === 'reduce' && t.error?.code === 'STRATA_E_SHUFFLE_FETCH_FAILED',
    ),
    show(done),
  ).toBe(true);
  expect(done.phases.map.stalls).toBe(1);
  await replacement;
  console.log(
    `[recovery] worker killed mid-map: map re-running after ${resumedAfter} s, job succeeded ${doneAfter} s after the kill`,
  );
});

it('a map whose worker is killed twice, each time while it runs, is still retried, not failed', async () => {
  await f.ensureWorkers(3);
  const id = await f.submit({ mapPauseMs: 25 });
  const first = await f.waitFor(id, 'a map running', (s) =>
    s.tasks!.some((t) => t.kind === 'map' && t.state === 'running' && t.worker),
  );
  const target = first.tasks!.find((t) => t.kind === 'map' && t.state === 'running' && t.worker)!;
  const killed = [target.worker!];
  const t0 = performance.now();
  await f.kill(await f.workerService(target.worker!));
  const replacements = f.ensureWorkers(3);

  const second = await f.waitFor(id, `${target.taskId} running on a second worker`, (s) => {
    const t = task(s, target.taskId);
    return t.state === 'running' && t.worker !== undefined && !killed.includes(t.worker);
  });
  const firstResume = since(t0);
  killed.push(task(second, target.taskId).worker!);
  const t1 = performance.now();
  await f.kill(await f.workerService(killed[1]!));

  await f.waitFor(id, `${target.taskId} running on a third worker`, (s) => {
    const t = task(s, target.taskId);
    return (
      (t.state === 'running' || t.state === 'succeeded') &&
      t.worker !== undefined &&
      !killed.includes(t.worker)
    );
  });
  const secondResume = since(t1);
  const done = await f.finished(id);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);
  expect(task(done, target.taskId)).toMatchObject({
    state: 'succeeded',
    attempt: target.attempt,
    stalls: 2,
  });
  expect(done.phases.map.failed).toBe(0); // two stalls, no failure counted
  await replacements;
  console.log(
    `[recovery] map's worker killed twice: re-running after ${firstResume} s and ${secondResume} s; job succeeded ${since(t0)} s after the first kill`,
  );
});

it('a worker killed after its maps are done, while it serves their outputs to the reduces: its maps run again elsewhere, the reduces fetch the new outputs, the view is byte-identical', async () => {
  await f.ensureWorkers(3);
  const queue = await f.queue();
  const id = await f.submit({ mapPauseMs: 25 }); // ~1 s per map
  // Hold the reduces on the queue: pause it once every map has a worker, so the killed worker
  // is idle and only serving shuffle data when it dies, and every reduce still has to fetch.
  await f.waitFor(id, 'every map taken by a worker', (s) =>
    ofKind(s, 'map').every((t) => t.state === 'running' || t.state === 'succeeded'),
  );
  await queue.pause();
  let before: JobStatus;
  try {
    before = await f.waitFor(
      id,
      'every map done, the reduces queued',
      (s) => s.state === 'reducing' && ofKind(s, 'reduce').every((t) => t.state === 'queued'),
    );
  } finally {
    await queue.resume().catch(() => {});
  }
  const outputs = new Map<string, string[]>();
  for (const m of ofKind(before, 'map'))
    outputs.set(m.worker!, [...(outputs.get(m.worker!) ?? []), m.taskId]);
  const [victim, served] = [...outputs].sort((a, b) => b[1].length - a[1].length)[0]!;
  const address = (await f.registry()).get(victim)!.address;
  await queue.pause();
  const t0 = performance.now();
  await f.kill(await f.workerService(victim));
  await queue.resume();
  const replacement = f.ensureWorkers(3);

  const rerun = await f.waitFor(id, `the maps of ${victim} running again`, (s) =>
    served.every(
      (m) => task(s, m).attempt > task(before, m).attempt && task(s, m).state !== 'pending',
    ),
  );
  const rerunAfter = since(t0);
  const done = await f.finished(id);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);

  for (const m of served) expect(task(done, m).worker).not.toBe(victim);
  for (const m of ofKind(before, 'map').filter((t) => !served.includes(t.taskId)))
    expect(task(done, m.taskId).attempt).toBe(m.attempt); // the live workers' outputs were kept
  const fetchFailures = ofKind(done, 'reduce').flatMap((t) =>
    t.error?.code === 'STRATA_E_SHUFFLE_FETCH_FAILED' ? [t.error] : [],
  );
  expect(fetchFailures.length, show(done)).toBeGreaterThan(0);
  for (const e of fetchFailures)
    expect(e.details).toMatchObject({
      address,
      reason: 'unavailable',
      mapOutputId: expect.stringMatching(new RegExp(`^${id}/(${served.join('|')})-a\\d+$`)),
    });
  expect(rerun.tasks!.length).toBe(done.tasks!.length);
  await replacement;
  console.log(
    `[recovery] worker killed while serving shuffle data: its ${served.length} maps re-running after ${rerunAfter} s, job succeeded ${since(t0)} s after the kill`,
  );
});

it('a worker killed while it runs a reduce: the reduce is taken again by a live worker, the view is byte-identical', async () => {
  await f.ensureWorkers(3);
  const id = await f.submit({});
  const before = await f.waitFor(id, 'a reduce running', (s) =>
    ofKind(s, 'reduce').some((t) => t.state === 'running' && t.worker),
  );
  const reduce = ofKind(before, 'reduce').find((t) => t.state === 'running' && t.worker)!;
  const victim = reduce.worker!;
  const t0 = performance.now();
  await f.kill(await f.workerService(victim));
  const replacement = f.ensureWorkers(3);

  await f.waitFor(id, `${reduce.taskId} running again elsewhere`, (s) => {
    const t = task(s, reduce.taskId);
    return (t.state === 'running' || t.state === 'succeeded') && t.worker !== victim;
  });
  const resumedAfter = since(t0);
  const done = await f.finished(id);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);
  const after = task(done, reduce.taskId);
  expect(after.worker).not.toBe(victim);
  expect(after.stalls, show(done)).toBe(1);
  expect(done.phases.reduce.stalls).toBe(1);
  await replacement;
  console.log(
    `[recovery] worker killed mid-reduce: reduce re-running after ${resumedAfter} s, job succeeded ${since(t0)} s after the kill`,
  );
});
