/**
 * Speculative execution on a real cluster (redis-server, coordinator, three worker processes):
 * one worker process is a straggler (the job's map pauses far longer there, as on a sick
 * machine); the coordinator notices a map running far longer than its finished peers, launches a
 * backup attempt that lands on another worker, the backup wins, the straggler's attempt is
 * cancelled on its worker, and the view is byte-identical to a run without any straggler. (That a
 * multiplier of 0 turns speculation off is checked in speculative-attempts.test.ts.)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describe as show,
  since,
  startFaultCluster,
  type FaultCluster,
} from './support/fault-cluster.ts';

let f: FaultCluster;
let reference: Buffer[];

beforeAll(async () => {
  f = await startFaultCluster({
    workers: 3,
    config: { speculationMultiplier: 3, speculationMinMs: 1000, speculationQuantile: 0.5 },
  });
  reference = (await f.run({})).parts;
}, 120_000);
afterAll(async () => {
  await f?.stop();
}, 60_000);

it('a map straggling on one worker gets a speculative attempt on another, which wins; the loser is cancelled; status and metrics show it; the view is byte-identical', async () => {
  const slow = f.liveWorkers()[0]!;
  const slowId = [...(await f.registry()).values()].find((w) => w.pid === slow.pid)!.id;
  const t0 = performance.now();
  // ~10 s per map on the slow worker, ~0.2 s elsewhere.
  const id = await f.submit({ slowPid: slow.pid, slowPauseMs: 350 });
  const done = await f.finished(id);
  const took = since(t0);
  expect(done.state, show(done)).toBe('succeeded');
  expect(await f.parts(done.version!)).toEqual(reference);

  const won = done.tasks!.filter((t) => t.speculative);
  expect(won.length, show(done)).toBeGreaterThan(0);
  for (const t of won) {
    expect(t).toMatchObject({ kind: 'map', state: 'succeeded', speculations: 1 });
    expect(t.worker).not.toBe(slowId);
    expect(t.attempt).toBeGreaterThan(1);
  }
  expect(done.phases.map.speculative).toEqual({
    launched: won.length,
    won: won.length,
    running: 0,
  });
  expect(
    done.tasks!.filter((t) => t.worker === slowId && t.state === 'succeeded' && t.kind === 'map'),
  ).toEqual([]);
  expect(took).toBeLessThan(10); // the straggler alone would have taken ~10 s

  const metrics = await (await fetch(`${f.cluster.info.coordinatorUrl}/metrics`)).text();
  expect(metrics).toMatch(
    new RegExp(`strata_speculative_attempts_total\\{kind="map",outcome="won"\\} ${won.length}\\b`),
  );
  // The straggling attempt was aborted on its worker, not left to run to its end.
  const slowLog = await readFile(path.join(f.cluster.home, 'logs', `${slow.name}.log`), 'utf8');
  expect(slowLog).toContain('running attempt cancelled by the coordinator');
  console.log(
    `[speculation] ${won.length} straggling map(s) backed up and beaten; job took ${took} s (a straggling map alone takes ~10 s)`,
  );
});
