/**
 * `strata views [--json]`: every published view with its current version, keys, the job that
 * wrote it and when; read from the store (no coordinator needed).
 *
 *   $ strata views
 *   view       version                keys    parts  versions  job          published
 *   pageviews  v1763822310042-j17638  52,117  8      2         j1763822301  2026-11-22 15:38:30Z
 */
import type { Command } from 'commander';
import { listVersions, listViews, readCurrentVersion, readManifest } from '../../core/views/view-layout.ts';
import { openTargetStore, resolveTarget, withTargetOptions, type TargetFlags } from '../cluster/cluster-target.ts';
import { formatTable, isoSeconds } from './jobs.ts';

export interface ViewSummary {
  view: string;
  version: string;
  records: number;
  partitions: number;
  versions: number;
  jobId: string;
  job: string;
  published: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('views')
    .description('list the published views: current version, keys, job and time')
    .option('--json', 'print a JSON array instead of a table');
  withTargetOptions(cmd, { coordinator: false }).action(async (flags: TargetFlags & { json?: boolean }) => {
    const store = await openTargetStore(await resolveTarget(flags));
    const views: ViewSummary[] = [];
    try {
      for (const view of await listViews(store)) {
        const version = await readCurrentVersion(store, view);
        if (!version) continue;
        const m = await readManifest(store, view, version);
        const versions = (await listVersions(store, view)).length;
        views.push({ view, version, records: m.records, partitions: m.partitions, versions, jobId: m.jobId, job: m.job.name, published: m.times.finished });
      }
    } finally {
      await store.close();
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
      return;
    }
    if (views.length === 0) {
      process.stdout.write('no views published yet; run a job with: strata submit <job.ts>\n');
      return;
    }
    const rows = [
      ['view', 'version', 'keys', 'parts', 'versions', 'job', 'published'],
      ...views.map((v) => [v.view, v.version, v.records.toLocaleString('en-US'), String(v.partitions), String(v.versions), v.job === v.view ? v.jobId : `${v.job} ${v.jobId}`, isoSeconds(v.published)]),
    ];
    process.stdout.write(`${formatTable(rows, new Set([2, 3, 4]))}\n`);
  });
}
