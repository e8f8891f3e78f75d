/**
 * `npm run chaos [-- --events 2000000 --rounds 3 --workers 3 --worker-kills 2 --coordinator-kills 1
 * --seed 1]`:
 * the batch layer's fault tolerance, measured. A real cluster (redis-server, a coordinator and
 * `--workers` worker processes) counts pageviews per URL and hour over `--events` generated events:
 * once without faults (the baseline: time and view), then `--rounds` more times while processes
 * are SIGKILLed at random moments (seeded) — `--worker-kills` workers per round, each replaced by a
 * new worker at once, and `--coordinator-kills` times the coordinator, restarted on its port.
 *
 * Printed: rounds completed, kills by type, records lost and records counted twice (the view's
 * per-key counts against the generated input; both must be 0), whether each view is byte for byte
 * the fault-free one, recovery times per fault type (defined in chaos-round.ts) and the slowdown.
 * It ends by checking that no process it started still runs and nothing it created is left in
 * the temporary folder (its children get a TMPDIR of their own inside its folder), and exits 1
 * if any guarantee broke. A quick run: `npm run chaos -- --events 200000 --rounds 2`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleJob, uploadBundle } from '../cli/bundle-job.ts';
import { DatasetAppender } from '../core/dataset/dataset-appender.ts';
import { openStore } from '../core/store/open-store.ts';
import type { JobSpec } from '../core/tasks/task-payload.ts';
import { eventHour } from '../examples/web-analytics/event-hour.ts';
import { generatePageviews } from '../examples/web-analytics/generate-pageviews.ts';
import { sfc32 } from '../examples/web-analytics/seeded-random.ts';
import { startChaosCluster, type ChaosCluster } from './chaos-cluster.ts';
import { runRound, type FaultKind, type FaultRecord, type PlannedFault } from './chaos-round.ts';
import { ExpectedCounts, inspectVersion, type VersionCheck } from './chaos-verify.ts';

const PAGEVIEWS_JOB = new URL('../examples/web-analytics/pageviews.ts', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '3' },
    'worker-kills': { type: 'string', default: '2' },
    'coordinator-kills': { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    'split-mb': { type: 'string', default: '8' },
  },
});
const num = (name: keyof typeof values, min: number): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(
      `--${name} must be a whole number ≥ ${min}; got ${String(values[name])}\n`,
    );
    process.exit(2);
  }
  return n;
};
const opts = {
  events: num('events', 1000),
  rounds: num('rounds', 1),
  workers: num('workers', 2),
  workerKills: num('worker-kills', 0),
  coordinatorKills: num('coordinator-kills', 0),
  seed: num('seed', 0),
  splitMb: num('split-mb', 1),
};
const say = (s: string) => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const broken: string[] = [];

const realTmp = os.tmpdir();
const root = await mkdtemp(path.join(realTmp, 'strata-chaos-'));
const childTmp = path.join(root, 'tmp');
await mkdir(childTmp);
process.env.TMPDIR = childTmp; // our children's (and our own later) temporary files stay in our folder
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);
const storeUrl = `file://${path.join(root, 'store')}`;
const store = await openStore(storeUrl);
let cluster: ChaosCluster | undefined;
const rand = sfc32(opts.seed);
const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;

try {
  say(
    `chaos: ${opts.events.toLocaleString('en-US')} events, ${opts.workers} workers, ${opts.rounds} rounds with ${opts.workerKills} worker and ${opts.coordinatorKills} coordinator SIGKILL(s) each, seed ${opts.seed}, ${os.cpus().length} cores`,
  );
  const expected = new ExpectedCounts();
  let t0 = performance.now();
  const appender = new DatasetAppender(store, 'pageviews', { timeField: 'time' });
  for (const e of generatePageviews({ count: opts.events, seed: opts.seed + 100 })) {
    expected.add(e.url, eventHour(e.time));
    const wait = appender.append(e as unknown as Record<string, unknown>, Date.parse(e.time));
    if (wait) await wait;
  }
  const ingested = await appender.commit();
  say(
    `ingest: ${ingested.records.toLocaleString('en-US')} records in ${ingested.segments.length} segments, ${secs(performance.now() - t0)}; ${expected.counts.size.toLocaleString('en-US')} distinct [url, hour] keys`,
  );

  cluster = await startChaosCluster({
    home: path.join(root, 'cluster'),
    store: storeUrl,
    workers: opts.workers,
    baseEnv,
    // Short locks: a killed worker's task is handed on within seconds (FACTS.md: lockDuration + ≤ 2
    // stalled intervals).
    config: {
      heartbeatMs: 500,
      lockDurationMs: 5000,
      splitTargetBytes: opts.splitMb * 1024 * 1024,
    },
  });
  const { bundle, spec: staticSpec } = await bundleJob(PAGEVIEWS_JOB);
  await uploadBundle(store, bundle);
  const spec: JobSpec = { ...staticSpec, codeHash: bundle.sha256 };

  // The fault-free run.
  const base = await runRound({ cluster, spec, faults: [], pick, timeoutMs: 30 * 60_000 });
  if (base.status.state !== 'succeeded')
    throw new Error(
      `the fault-free run ended ${base.status.state}: ${base.status.error?.message ?? ''}`,
    );
  const baseView = await inspectVersion(store, spec.view, base.status.version!, expected);
  say(
    `fault-free: ${secs(base.ms)}, ${base.status.phases.map.total} maps + ${base.status.phases.reduce.total} reduces, view ${baseView.keys.toLocaleString('en-US')} keys in ${(baseView.bytes / 1e6).toFixed(1)} MB, lost ${baseView.lost}, counted twice ${baseView.doubled}`,
  );
  if (baseView.lost || baseView.doubled || baseView.total !== expected.total)
    broken.push(
      `the fault-free view is wrong (lost ${baseView.lost}, doubled ${baseView.doubled})`,
    );

  const rounds: Array<{
    ms: number;
    state: string;
    view?: VersionCheck;
    identical: boolean;
    faults: FaultRecord[];
    error?: string;
  }> = [];
  for (let r = 1; r <= opts.rounds; r++) {
    const faults: PlannedFault[] = [];
    const at = () => Math.round(base.ms * (0.05 + 0.75 * rand()));
    for (let i = 0; i < opts.workerKills; i++) faults.push({ atMs: at(), kind: 'worker' });
    for (let i = 0; i < opts.coordinatorKills; i++)
      faults.push({ atMs: at(), kind: 'coordinator' });
    say(
      `round ${r}: faults planned at ${
        faults
          .sort((a, b) => a.atMs - b.atMs)
          .map((f) => `${secs(f.atMs)} (${f.kind})`)
          .join(', ') || 'none'
      }`,
    );
    try {
      const round = await runRound({
        cluster,
        spec,
        faults,
        pick,
        timeoutMs: Math.max(10 * base.ms, base.ms + 300_000),
        log: say,
      });
      const view =
        round.status.state === 'succeeded'
          ? await inspectVersion(store, spec.view, round.status.version!, expected)
          : undefined;
      const identical =
        view !== undefined &&
        view.partHashes.length === baseView.partHashes.length &&
        view.partHashes.every((h, i) => h === baseView.partHashes[i]);
      rounds.push({
        ms: round.ms,
        state: round.status.state,
        ...(view ? { view } : {}),
        identical,
        faults: round.faults,
      });
      say(
        `round ${r}: ${round.status.state} in ${secs(round.ms)}${view ? `, lost ${view.lost}, counted twice ${view.doubled}, view identical: ${identical ? 'yes' : 'no'}` : `: ${round.status.error?.message ?? ''}`}`,
      );
      if (round.status.state !== 'succeeded')
        broken.push(
          `round ${r}: the job ended ${round.status.state}: ${round.status.error?.message ?? ''} [${round.status.error?.code ?? ''}]`,
        );
      else if (view!.lost || view!.doubled || view!.total !== expected.total)
        broken.push(`round ${r}: lost ${view!.lost}, counted twice ${view!.doubled}`);
      if (view && !identical) broken.push(`round ${r}: the view differs from the fault-free one`);
    } catch (err) {
      rounds.push({
        ms: Number.NaN,
        state: 'error',
        identical: false,
        faults: [],
        error: (err as Error).message,
      });
      broken.push(`round ${r}: ${(err as Error).message}`);
      say(`round ${r}: ${(err as Error).message}`);
    }
  }

  // The report.
  const all = rounds.flatMap((r) => r.faults);
  const done = (k: FaultKind) => all.filter((f) => f.kind === k && f.outcome === 'done');
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0
      ? 'n/a'
      : `median ${secs(s[Math.floor((s.length - 1) / 2)]!)}, max ${secs(s.at(-1)!)} (n=${s.length})`;
  };
  const completed = rounds.filter((r) => r.state === 'succeeded');
  const medianMs = [...completed.map((r) => r.ms)].sort((a, b) => a - b)[
    Math.floor((completed.length - 1) / 2)
  ];
  say('');
  say('== chaos report ==');
  say(`rounds completed        ${completed.length} of ${rounds.length}`);
  say(
    `kills                   worker ${done('worker').length} (${done('worker').filter((f) => f.lostTasks.length > 0).length} while running a task), coordinator ${done('coordinator').length}; skipped (job already done) ${all.filter((f) => f.outcome === 'skipped').length}`,
  );
  say(
    `records lost            ${completed.reduce((n, r) => n + r.view!.lost, 0)} (input ${expected.total.toLocaleString('en-US')} records per round)`,
  );
  say(`records counted twice   ${completed.reduce((n, r) => n + r.view!.doubled, 0)}`);
  say(
    `view identical          ${rounds.map((r, i) => `round ${i + 1}: ${r.identical ? 'yes' : 'no'}`).join(', ')} (sha256 of every part file vs the fault-free run)`,
  );
  say(
    `worker recovery         ${stats(done('worker').flatMap((f) => (f.recoveryMs === undefined ? [] : [f.recoveryMs])))}: SIGKILL → every task it was running succeeded on another worker`,
  );
  say(
    `coordinator recovery    ${stats(done('coordinator').flatMap((f) => (f.recoveryMs === undefined ? [] : [f.recoveryMs])))}: SIGKILL → restarted coordinator answers and the job finished one more task`,
  );
  say(
    `process restart         worker ${stats(done('worker').flatMap((f) => (f.restartMs === undefined ? [] : [f.restartMs])))}, coordinator ${stats(done('coordinator').flatMap((f) => (f.restartMs === undefined ? [] : [f.restartMs])))}: SIGKILL → replacement ready`,
  );
  say(
    `slowdown vs no faults   ${medianMs === undefined ? 'n/a' : `${(medianMs / base.ms).toFixed(2)}x (median round ${secs(medianMs)} vs ${secs(base.ms)}; rounds ${completed.map((r) => secs(r.ms)).join(', ')})`}`,
  );
} catch (err) {
  broken.push(`chaos could not finish: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cluster
    ?.stop()
    .catch((err: unknown) => broken.push(`stopping the cluster failed: ${(err as Error).message}`));
  await store.close();
  const alive = (cluster?.pids ?? []).filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  if (alive.length) broken.push(`processes still running after stop: ${alive.join(', ')}`);
  // tsx's compile cache (tsx-<uid>) is a tool's cache, not something Strata left; it goes with our
  // folder.
  const leftInTmp = existsSync(childTmp)
    ? (await readdir(childTmp)).filter((name) => !/^tsx-\d+$/.test(name))
    : [];
  if (leftInTmp.length)
    broken.push(`temporary files left by Strata processes: ${leftInTmp.join(', ')}`);
  await rm(root, { recursive: true, force: true });
  if (existsSync(root)) broken.push(`could not remove ${root}`);
  say(
    `cleanup                 ${alive.length === 0 ? 'no process left running' : `${alive.length} processes left`} (${cluster?.pids.length ?? 0} started); ${leftInTmp.length === 0 && !existsSync(root) ? `nothing left in ${realTmp}` : 'files left behind'}`,
  );
}
if (broken.length) {
  say(`\nGUARANTEES BROKEN (${broken.length}):\n${broken.map((b) => `- ${b}`).join('\n')}`);
  process.exit(1);
}
say('\nall guarantees held');
process.exit(0);
