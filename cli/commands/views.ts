/**
 * `strata views [--json]`: every published view with its current version, keys, the job that
 * wrote it and when; read from the store (no coordinator needed).
 *
 *   $ strata views
 *   view       version                keys    parts  versions  job          published
 *   pageviews  v1763822310042-j17638  52,117  8      2         j1763822301  2026-11-22 15:38:30Z
 *
 * `strata views history <view>`: every committed version, newest first, with the job, code hash,
 * input range and time from its manifest; the current one is marked.
 * `strata views rollback <view> [version]`: points _CURRENT back at an older committed version
 * (default: the one before the current) and announces it, so every view server follows. Nothing
 * is deleted: rolling forward again is one more rollback to the newer version. Each publish
 * deletes versions older than the newest STRATA_VIEW_VERSIONS_KEPT before the current one
 * (core/views/view-retention.ts), so those are the rollback targets there are.
 */
import type { Command } from 'commander';
import { isStrataError, StrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import {
  listVersions,
  listViews,
  readCurrentVersion,
  readManifest,
  setCurrentVersion,
  viewsChannel,
  type ViewManifest,
} from '../../core/views/view-layout.ts';
import {
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type ClusterTarget,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import { formatTable, isoSeconds } from './jobs.ts';
import { registerRealtimeCommands } from './views-realtime.ts';

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
    // options after `history`/`rollback` belong to them, not to `views` (both take --store, --json)
    .enablePositionalOptions()
    .option('--json', 'print a JSON array instead of a table');
  withTargetOptions(cmd, { coordinator: false }).action(
    async (flags: TargetFlags & { json?: boolean }) => {
      const store = await openTargetStore(await resolveTarget(flags));
      const views: ViewSummary[] = [];
      try {
        for (const view of await listViews(store)) {
          const version = await readCurrentVersion(store, view);
          if (!version) continue;
          const m = await readManifest(store, view, version);
          const versions = (await listVersions(store, view)).length;
          views.push({
            view,
            version,
            records: m.records,
            partitions: m.partitions,
            versions,
            jobId: m.jobId,
            job: m.job.name,
            published: m.times.finished,
          });
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
        ...views.map((v) => [
          v.view,
          v.version,
          v.records.toLocaleString('en-US'),
          String(v.partitions),
          String(v.versions),
          v.job === v.view ? v.jobId : `${v.job} ${v.jobId}`,
          isoSeconds(v.published),
        ]),
      ];
      process.stdout.write(`${formatTable(rows, new Set([2, 3, 4]))}\n`);
    },
  );

  registerRealtimeCommands(cmd);
  withTargetOptions(
    cmd
      .command('history')
      .description('list every committed version of a view, newest first')
      .argument('<view>')
      .option('--json', 'print JSON'),
    { coordinator: false },
  ).action(async (view: string, flags: TargetFlags & { json?: boolean }) => {
    const store = await openTargetStore(await resolveTarget(flags));
    try {
      const current = await readCurrentVersion(store, view);
      if (current === undefined)
        throw new StrataError(
          'STRATA_E_VIEW_NOT_FOUND',
          `no view "${view}" has been published in ${store.url}; list the views with strata views`,
          { details: { view } },
        );
      // A version retention deletes between the listing and the read is left out, not an error.
      const read = await Promise.all(
        (await listVersions(store, view))
          .reverse()
          .map((v) =>
            readManifest(store, view, v).catch((err: unknown) =>
              isStrataError(err, 'STRATA_E_STORE_NOT_FOUND') ? undefined : Promise.reject(err),
            ),
          ),
      );
      const manifests = read.filter((m): m is ViewManifest => m !== undefined);
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify(
            manifests.map((m) => ({ ...historyOf(m), current: m.version === current })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      const rows = [
        ['', 'version', 'keys', 'job', 'code', 'input', 'published'],
        ...manifests.map((m) => historyRow(m, m.version === current)),
      ];
      process.stdout.write(`${formatTable(rows, new Set([2]))}\n`);
    } finally {
      await store.close();
    }
  });
  withTargetOptions(
    cmd
      .command('rollback')
      .description(
        'point a view back at an older committed version (default: the previous one); view servers follow',
      )
      .argument('<view>')
      .argument('[version]'),
    { coordinator: false },
  ).action(async (view: string, version: string | undefined, flags: TargetFlags) => {
    const target = await resolveTarget(flags);
    const store = await openTargetStore(target);
    let from: string | undefined;
    let to: string;
    try {
      from = await readCurrentVersion(store, view);
      if (from === undefined)
        throw new StrataError(
          'STRATA_E_VIEW_NOT_FOUND',
          `no view "${view}" has been published in ${store.url}; list the views with strata views`,
          { details: { view } },
        );
      const versions = await listVersions(store, view);
      if (version === undefined) {
        const older = versions.filter((v) => v < from!);
        if (older.length === 0)
          throw new StrataError(
            'STRATA_E_USAGE',
            `view "${view}" has no version older than the current ${from}; name one of: ${versions.join(', ')}`,
            { details: { view, versions } },
          );
        version = older[older.length - 1]!;
      }
      to = version;
      await setCurrentVersion(store, view, to);
    } finally {
      await store.close();
    }
    const announced = await announce(target, view, to);
    process.stdout.write(
      `${view}: current version ${from} → ${to}${announced ? ' (announced to view servers)' : ' (no cluster Redis known: view servers pick it up when they next check _CURRENT)'}\n`,
    );
  });
}

/**
 * Tells running view servers at once; they also poll _CURRENT, so a missing Redis only delays them.
 */
async function announce(target: ClusterTarget, view: string, version: string): Promise<boolean> {
  if (!target.redisUrl) return false;
  const redis = await connectRedis(target.redisUrl, { role: 'command', name: 'strata-views' });
  try {
    await redis.publish(viewsChannel(target.redisPrefix), JSON.stringify({ view, version }));
    return true;
  } finally {
    redis.disconnect();
  }
}

function historyOf(m: ViewManifest) {
  return {
    version: m.version,
    records: m.records,
    jobId: m.jobId,
    job: m.job.name,
    codeHash: m.job.codeHash,
    input: {
      dataset: m.job.input.dataset,
      minTime: m.inputMinTime,
      maxTime: m.inputMaxTime,
      segments: m.inputSegments.length,
    },
    published: m.times.finished,
  };
}

function historyRow(m: ViewManifest, current: boolean): string[] {
  const range =
    m.inputMinTime === null
      ? ''
      : `${isoSeconds(m.inputMinTime).slice(0, 10)}…${isoSeconds(m.inputMaxTime ?? m.inputMinTime).slice(0, 10)}`;
  return [
    current ? '*' : '',
    m.version,
    m.records.toLocaleString('en-US'),
    `${m.job.name} ${m.jobId}`,
    m.job.codeHash.slice(0, 12),
    `${m.job.input.dataset} ${range} (${m.inputSegments.length} segments)`,
    isoSeconds(m.times.finished),
  ];
}
