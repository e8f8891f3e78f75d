/**
 * `strata status <job id> [--json]`: one job in detail: state, phases, counters, and every task
 * with its attempt, worker and error.
 *
 *   $ strata status j1763822301
 *   job j1763822301 (pageviews → view pageviews): succeeded, version v1763822310042-j17638
 *   …
 *   task  kind    state      attempt  worker   records in  records out  error
 *   m-0   map     succeeded  1        w-1a2b   125,000     9,812
 *
 * For a job with a bad-record budget (defineJob's badRecords), a `quarantine` line says how many
 * records were skipped and where their quarantine files are; `--quarantine` prints those files
 * (NDJSON: each bad record or damaged block with its error and where it came from), for jq & co.
 */
import type { Command } from 'commander';
import type { ObjectInfo } from '../../core/store/store.ts';
import type { Counters } from '../../core/tasks/task-payload.ts';
import { quarantinePrefix } from '../../core/tasks/task-payload.ts';
import {
  coordinatorOf,
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type ClusterTarget,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import type { JobStatus } from '../coordinator-client.ts';
import { formatBytes } from './ingest.ts';
import { formatTable, isoSeconds, took } from './jobs.ts';

export function register(program: Command): void {
  const cmd = program
    .command('status')
    .description('show one job: state, phases, counters, and its tasks with attempts and errors')
    .argument('<id>', 'the job id (strata jobs lists them)')
    .option('--json', 'print the job status with its tasks as JSON')
    .option(
      '--quarantine',
      "print the job's quarantined records (NDJSON, one bad record or damaged block a line)",
    );
  withTargetOptions(cmd).action(
    async (id: string, flags: TargetFlags & { json?: boolean; quarantine?: boolean }) => {
      const target = await resolveTarget(flags);
      const job = await coordinatorOf(target).job(id, { tasks: true });
      const quarantine =
        flags.quarantine || hasQuarantine(job)
          ? await quarantineOf(target, job, { strict: flags.quarantine === true })
          : undefined;
      if (flags.quarantine) {
        await printQuarantine(target, job, quarantine!);
        return;
      }
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify(quarantine ? { ...job, quarantine } : job, null, 2)}\n`,
        );
        return;
      }
      const c = job.counters;
      const lines = [
        `job ${job.id} (${job.spec.name} → view ${job.spec.view}): ${job.state}${job.version ? `, version ${job.version}` : ''}`,
        `  input      ${job.spec.input.dataset}${job.spec.input.from || job.spec.input.to ? ` ${job.spec.input.from ?? '…'} to ${job.spec.input.to ?? '…'}` : ''}: ${job.inputRecords.toLocaleString('en-US')} records, ${formatBytes(job.inputBytes)}`,
        `  code       ${job.spec.codeHash.slice(0, 16)}…  partitions ${job.spec.partitions}  reduce ${job.spec.reduce}${Object.keys(job.spec.params).length ? `  params ${JSON.stringify(job.spec.params)}` : ''}`,
        `  submitted  ${isoSeconds(job.submitted)}  started ${isoSeconds(job.started)}  finished ${isoSeconds(job.finished)}  took ${took(job)}`,
        `  map        ${job.phases.map.done}/${job.phases.map.total} done, ${job.phases.map.running} running, ${job.phases.map.failed} failed`,
        `  reduce     ${job.phases.reduce.done}/${job.phases.reduce.total} done, ${job.phases.reduce.running} running, ${job.phases.reduce.failed} failed`,
        `  counters   ${describeCounters(c)}`,
      ];
      if (quarantine) lines.push(`  quarantine ${describeQuarantine(job, quarantine)}`);
      if (job.error) lines.push(`  error      ${job.error.message} [${job.error.code}]`);
      const tasks = job.tasks ?? [];
      if (tasks.length > 0) {
        const rows = [
          ['task', 'kind', 'state', 'attempt', 'worker', 'records in', 'records out', 'error'],
          ...tasks.map((t) => [
            t.taskId,
            t.kind,
            t.state,
            String(t.attempt),
            t.worker ?? '-',
            (t.counters?.recordsIn ?? 0).toLocaleString('en-US'),
            (t.counters?.recordsOut ?? 0).toLocaleString('en-US'),
            t.error ? `${firstLine(t.error.message)} [${t.error.code}]` : '',
          ]),
        ];
        lines.push('', formatTable(rows, new Set([3, 5, 6])));
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
}

export function describeCounters(c: Counters): string {
  return [
    `records in ${c.recordsIn.toLocaleString('en-US')}`,
    `out ${c.recordsOut.toLocaleString('en-US')}`,
    `bad ${c.badRecords.toLocaleString('en-US')}`,
    `bytes in ${formatBytes(c.bytesIn)}`,
    `shuffled ${formatBytes(c.shuffleBytes)}`,
    `spills ${c.spills} (${formatBytes(c.spilledBytes)})`,
  ].join(', ');
}

/** Where a job's quarantined records are: its current map attempts' files in the store. */
export interface JobQuarantine {
  prefix: string;
  store: string;
  /** Bad records the succeeded maps skipped (counters.badRecords). */
  badRecords: number;
  max: number;
  files: Array<{ key: string; bytes: number }>;
  /** Set when the store could not be listed. */
  problem?: string;
}

function hasQuarantine(job: JobStatus): boolean {
  return (
    (job.spec.badRecords?.max ?? 0) > 0 ||
    job.counters.badRecords > 0 ||
    job.error?.code === 'STRATA_E_JOB_BAD_RECORDS'
  );
}

/** `strict`: a store that cannot be listed is an error, not a note in the answer. */
async function quarantineOf(
  target: ClusterTarget,
  job: JobStatus,
  opts: { strict: boolean },
): Promise<JobQuarantine> {
  const prefix = quarantinePrefix(job.id);
  const q: JobQuarantine = {
    prefix,
    store: target.store,
    badRecords: job.counters.badRecords,
    max: job.spec.badRecords?.max ?? 0,
    files: [],
  };
  // Only the current attempt of each map counts; an earlier attempt's file (its worker died)
  // repeats records.
  const current = new Set(
    (job.tasks ?? [])
      .filter((t) => t.kind === 'map')
      .map((t) => `${prefix}${t.taskId}-a${t.attempt}.ndjson`),
  );
  try {
    const store = await openTargetStore(target);
    try {
      const found: ObjectInfo[] = [];
      for await (const o of store.list(prefix)) if (current.has(o.key)) found.push(o);
      q.files = found.map((o) => ({ key: o.key, bytes: o.size }));
    } finally {
      await store.close();
    }
  } catch (err) {
    if (opts.strict) throw err;
    q.problem = `could not list ${prefix} in ${target.store}: ${(err as Error).message}`;
  }
  return q;
}

function describeQuarantine(job: JobStatus, q: JobQuarantine): string {
  const skipped = `${q.badRecords.toLocaleString('en-US')} bad record${q.badRecords === 1 ? '' : 's'} skipped (budget badRecords.max = ${q.max.toLocaleString('en-US')})`;
  if (q.problem) return `${skipped}; ${q.problem}`;
  if (q.files.length === 0) return `${skipped}; nothing quarantined`;
  const bytes = q.files.reduce((n, f) => n + f.bytes, 0);
  return `${skipped}; ${q.files.length} file${q.files.length === 1 ? '' : 's'} (${formatBytes(bytes)}) in ${q.prefix} of ${q.store}; print them with: strata status ${job.id} --quarantine`;
}

async function printQuarantine(
  target: ClusterTarget,
  job: JobStatus,
  q: JobQuarantine,
): Promise<void> {
  if (q.files.length === 0) {
    process.stderr.write(
      `job ${job.id} quarantined nothing (${q.prefix} holds no file of its current map attempts)\n`,
    );
    return;
  }
  const store = await openTargetStore(target);
  try {
    for (const f of q.files)
      for await (const chunk of await store.getStream(f.key))
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
  } finally {
    await store.close();
  }
}

function firstLine(s: string): string {
  const line = s.split('\n')[0]!;
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}
