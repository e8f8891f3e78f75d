/**
 * One run of a job under `npm run chaos`: submit, then SIGKILL processes at planned moments while
 * the job runs, start their replacements, and time how long the job takes to recover from each.
 *
 *   const round = await runRound({ cluster, api: () => client, spec, faults: [{ atMs: 4000, kind: 'worker' }], pick });
 *   round.status.state;  round.ms;  round.faults[0].recoveryMs;
 *
 * Recovery, as measured here:
 * - worker kill: from the SIGKILL until every task the killed worker was running at that moment
 *   has succeeded on another worker (BullMQ must first notice the lost lock, then the task runs
 *   again from the start). A kill that found the worker idle has no such time (its map outputs
 *   may still be lost and re-run: that shows in the round's time, not here).
 * - coordinator kill: from the SIGKILL until the restarted coordinator answers and the job has
 *   finished one more task than it had at the kill (or has finished): the job progresses again.
 * Times are observed by polling the coordinator every POLL_MS, so they are accurate to about that.
 */
import type { JobStatus } from '../cli/coordinator-client.ts';
import { CoordinatorClient, TERMINAL_STATES } from '../cli/coordinator-client.ts';
import type { JobSpec } from '../core/tasks/task-payload.ts';
import type { ChaosCluster } from './chaos-cluster.ts';

export type FaultKind = 'worker' | 'coordinator';

export interface PlannedFault {
  /** Milliseconds after the submit. */
  atMs: number;
  kind: FaultKind;
}

export interface FaultRecord extends PlannedFault {
  /** 'skipped': the job had already finished at that moment. */
  outcome: 'done' | 'skipped';
  target?: string;
  /** Tasks running on the killed worker at the kill. */
  lostTasks: string[];
  /** Milliseconds until the replacement process was ready. */
  restartMs?: number;
  /**
   * Milliseconds from the kill to recovery (see the module comment); undefined: idle kill or never
   * recovered.
   */
  recoveryMs?: number;
  killedAt?: number;
  doneAtKill?: number;
}

export interface RoundResult {
  jobId: string;
  status: JobStatus;
  ms: number;
  faults: FaultRecord[];
  /** Polls the coordinator did not answer (it was down). */
  unanswered: number;
}

const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const doneTasks = (s: JobStatus) => s.phases.map.done + s.phases.reduce.done;

export async function runRound(o: {
  cluster: ChaosCluster;
  spec: JobSpec;
  faults: PlannedFault[];
  pick: <T>(items: T[]) => T;
  timeoutMs: number;
  log?: (line: string) => void;
}): Promise<RoundResult> {
  const { cluster } = o;
  const api = () =>
    new CoordinatorClient({ url: cluster.coordinatorUrl, token: cluster.token, timeoutMs: 5000 });
  const started = performance.now();
  const jobId = (await api().submit(o.spec)).id;
  let last: JobStatus | undefined;
  let finished = false;
  let unanswered = 0;
  const records: FaultRecord[] = [];

  // Replacements start in the background, so the next fault keeps its planned moment.
  const restarts: Promise<unknown>[] = [];
  let coordinatorRestart: Promise<unknown> = Promise.resolve();
  const runFaults = async () => {
    for (const planned of [...o.faults].sort((a, b) => a.atMs - b.atMs)) {
      const wait = planned.atMs - (performance.now() - started);
      if (wait > 0) await sleep(wait);
      if (finished) {
        records.push({ ...planned, outcome: 'skipped', lostTasks: [] });
        continue;
      }
      const fresh = await api()
        .job(jobId, { tasks: true })
        .catch(() => last);
      if (fresh && TERMINAL_STATES.includes(fresh.state)) {
        records.push({ ...planned, outcome: 'skipped', lostTasks: [] });
        continue;
      }
      if (planned.kind === 'worker') {
        if (cluster.workers.size === 0) await Promise.all(restarts); // every worker is being replaced
        const victim = o.pick([...cluster.workers.values()]);
        const lostTasks = (fresh?.tasks ?? [])
          .filter((t) => t.state === 'running' && t.worker === victim.id)
          .map((t) => t.taskId);
        const killedAt = performance.now();
        await cluster.killWorker(victim.name);
        const record: FaultRecord = {
          ...planned,
          outcome: 'done',
          target: victim.id,
          lostTasks,
          killedAt,
          doneAtKill: fresh ? doneTasks(fresh) : 0,
        };
        records.push(record);
        o.log?.(
          `  ${((killedAt - started) / 1000).toFixed(1)} s: SIGKILL ${victim.name} (${victim.id}), running ${lostTasks.join(', ') || 'nothing'}`,
        );
        restarts.push(
          cluster.startWorker().then(() => (record.restartMs = performance.now() - killedAt)),
        );
      } else {
        await coordinatorRestart; // one coordinator at a time
        const killedAt = performance.now();
        await cluster.killCoordinator();
        const record: FaultRecord = {
          ...planned,
          outcome: 'done',
          target: 'coordinator',
          lostTasks: [],
          killedAt,
          doneAtKill: fresh ? doneTasks(fresh) : 0,
        };
        records.push(record);
        o.log?.(
          `  ${((killedAt - started) / 1000).toFixed(1)} s: SIGKILL coordinator (${fresh ? `${doneTasks(fresh)} tasks done` : 'status unknown'})`,
        );
        coordinatorRestart = cluster
          .startCoordinator()
          .then(() => (record.restartMs = performance.now() - killedAt));
      }
    }
    await Promise.all([...restarts, coordinatorRestart]);
  };
  const faults = runFaults();
  faults.catch(() => {});

  const observe = (s: JobStatus, at: number) => {
    const terminal = TERMINAL_STATES.includes(s.state);
    for (const f of records) {
      if (f.outcome !== 'done' || f.recoveryMs !== undefined || f.killedAt === undefined) continue;
      const recovered =
        f.kind === 'worker'
          ? f.lostTasks.length > 0 &&
            f.lostTasks.every((id) =>
              s.tasks?.some(
                (t) => t.taskId === id && t.state === 'succeeded' && t.worker !== f.target,
              ),
            )
          : f.restartMs !== undefined && (doneTasks(s) > f.doneAtKill! || terminal);
      if (
        recovered ||
        (terminal &&
          s.state === 'succeeded' &&
          (f.kind === 'coordinator' || f.lostTasks.length > 0))
      )
        f.recoveryMs = at - f.killedAt;
    }
  };

  for (;;) {
    if (performance.now() - started > o.timeoutMs) {
      await api()
        .cancel(jobId)
        .catch(() => {});
      finished = true;
      await faults.catch(() => {});
      throw new Error(
        `job ${jobId} did not finish within ${Math.round(o.timeoutMs / 1000)} s (last state ${last?.state ?? 'unknown'})`,
      );
    }
    let status: JobStatus;
    try {
      status = await api().job(jobId, { tasks: true });
    } catch {
      unanswered++;
      await sleep(POLL_MS);
      continue;
    }
    last = status;
    observe(status, performance.now());
    if (TERMINAL_STATES.includes(status.state)) break;
    await sleep(POLL_MS);
  }
  const ms = performance.now() - started;
  finished = true;
  await faults; // a replacement still starting is waited for: the next round starts with a full cluster
  return { jobId, status: last!, ms, faults: records, unanswered };
}
