/**
 * `strata jobs [--json] [--limit N]`: the cluster's jobs, newest first.
 *
 *   $ strata jobs
 *   id           state      view       version                map   reduce  submitted             took
 *   j1763822301  succeeded  pageviews  v1763822310042-j17638  8/8   8/8     2026-11-22 15:38:21Z  9.8 s
 */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.ts';
import {
  coordinatorOf,
  resolveTarget,
  withTargetOptions,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import type { JobStatus } from '../coordinator-client.ts';

export function register(program: Command): void {
  const cmd = program
    .command('jobs')
    .description('list the jobs of the cluster, newest first')
    .option('--limit <n>', 'show at most this many jobs', '20')
    .option('--json', 'print the job statuses as a JSON array');
  withTargetOptions(cmd, { store: false }).action(
    async (flags: TargetFlags & { limit: string; json?: boolean }) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new StrataError(
          'STRATA_E_USAGE',
          `--limit must be a positive integer, got "${flags.limit}"`,
        );
      const jobs = (await coordinatorOf(await resolveTarget(flags)).jobs()).slice(0, limit);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
        return;
      }
      if (jobs.length === 0) {
        process.stdout.write('no jobs yet; run one with: strata submit <job.ts>\n');
        return;
      }
      const rows = [
        ['id', 'state', 'view', 'version', 'map', 'reduce', 'submitted', 'took'],
        ...jobs.map((j) => [
          j.id,
          j.state,
          j.spec.view,
          j.version ?? '-',
          phase(j, 'map'),
          phase(j, 'reduce'),
          isoSeconds(j.submitted),
          took(j),
        ]),
      ];
      process.stdout.write(`${formatTable(rows, new Set([4, 5, 7]))}\n`);
    },
  );
}

function phase(j: JobStatus, which: 'map' | 'reduce'): string {
  const p = j.phases[which];
  return p.total === 0 ? '-' : `${p.done}/${p.total}`;
}

export function took(j: JobStatus): string {
  if (j.finished === undefined)
    return j.started === undefined ? '-' : `${((Date.now() - j.started) / 1000).toFixed(1)} s…`;
  return `${((j.finished - j.submitted) / 1000).toFixed(1)} s`;
}

export function isoSeconds(ms: number | undefined): string {
  return ms === undefined
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');
}

/** Columns padded to their widest cell; `right` holds the indexes of right-aligned columns. */
export function formatTable(rows: string[][], right: Set<number> = new Set()): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
