/**
 * `strata status <job id> [--json]`: one job in detail: state, phases, counters, and every task
 * with its attempt, worker and error.
 *
 *   $ strata status j1763822301
 *   job j1763822301 (pageviews → view pageviews): succeeded, version v1763822310042-j17638
 *   …
 *   task  kind    state      attempt  worker   records in  records out  error
 *   m-0   map     succeeded  1        w-1a2b   125,000     9,812
 */
import type { Command } from 'commander';
import type { Counters } from '../../core/tasks/task-payload.ts';
import { coordinatorOf, resolveTarget, withTargetOptions, type TargetFlags } from '../cluster/cluster-target.ts';
import { formatBytes } from './ingest.ts';
import { formatTable, isoSeconds, took } from './jobs.ts';

export function register(program: Command): void {
  const cmd = program
    .command('status')
    .description('show one job: state, phases, counters, and its tasks with attempts and errors')
    .argument('<id>', 'the job id (strata jobs lists them)')
    .option('--json', 'print the job status with its tasks as JSON');
  withTargetOptions(cmd, { store: false }).action(async (id: string, flags: TargetFlags & { json?: boolean }) => {
    const job = await coordinatorOf(await resolveTarget(flags)).job(id, { tasks: true });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
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
  });
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

function firstLine(s: string): string {
  const line = s.split('\n')[0]!;
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}
