/**
 * Realtime views on the command line (subcommands of `strata views`):
 *
 *   $ strata views register examples/web-analytics/pageviews.ts --every 10m
 *   registered pageviews for realtime (dataset pageviews, recomputed every 10m)
 *   published pageviews v1795363521696-j… — batch up to bucket 29922560, realtime after it
 *
 *   $ strata views realtime            # what is registered, and how often it is recomputed
 *   $ strata views unregister pageviews
 *
 * `register` bundles and uploads the job like `strata submit`, registers its view with the
 * coordinator (from now on every ingest acknowledged by `strata speed` is folded into the view
 * before it is acknowledged), and runs the first recomputation, which seals everything ingested
 * before the registration into a batch version. The coordinator then recomputes the view every
 * `--every` (the batch layer's loop; `strata batch` asks for one now).
 */
import type { Command } from 'commander';
import { readManifest } from '../../core/views/view-layout.ts';
import { bundleJob, uploadBundle } from '../bundle-job.ts';
import {
  coordinatorOf,
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import { formatDuration, parseDuration } from '../duration.ts';
import { jobProgress } from '../progress.ts';
import { formatTable, isoSeconds } from './jobs.ts';
import { jobError, jobSpecOf } from './submit.ts';

interface RegisterFlags extends TargetFlags {
  every: string;
  param: string[];
  partitions?: string;
  wait: boolean;
  json?: boolean;
}

export function registerRealtimeCommands(views: Command): void {
  withTargetOptions(
    views
      .command('register')
      .description(
        'keep a job’s view realtime: the speed layer folds every new event into it, the batch layer recomputes it periodically',
      )
      .argument(
        '<job>',
        'the job module (its reduce must be an aggregator: count(), sum(), distinct(), …)',
      )
      .option(
        '--every <duration>',
        'how often the batch layer recomputes the view (e.g. 10m, 1h, off)',
        '10m',
      )
      .option(
        '--param <name=value>',
        "override one of the job's params (repeatable)",
        (v: string, all: string[]) => [...all, v],
        [] as string[],
      )
      .option('--partitions <n>', "override the job's number of reduce partitions")
      .option('--no-wait', 'return once registered, without waiting for the first recomputation')
      .option('--json', 'print the registration and the first job as JSON'),
  ).action(async (file: string, flags: RegisterFlags) => {
    const everyMs = parseDuration(flags.every, '--every');
    const target = await resolveTarget(flags);
    const api = coordinatorOf(target);
    const { bundle, spec: staticSpec } = await bundleJob(file);
    const spec = jobSpecOf(staticSpec, bundle.sha256, {
      params: flags.param,
      ...(flags.partitions !== undefined ? { partitions: flags.partitions } : {}),
    });
    const store = await openTargetStore(target);
    try {
      await uploadBundle(store, bundle);
      const { registration, job } = await api.registerRealtime(spec, everyMs);
      process.stderr.write(
        `registered ${registration.view} for realtime (dataset ${registration.dataset}, recomputed every ${formatDuration(everyMs)}); first recomputation: job ${job.id}\n`,
      );
      if (!flags.wait) {
        if (flags.json) process.stdout.write(`${JSON.stringify({ registration, job })}\n`);
        return;
      }
      const progress = jobProgress(process.stderr);
      const final = await api
        .waitFor(job.id, { onStatus: (s) => progress.update(s) })
        .finally(() => progress.stop());
      if (final.state !== 'succeeded') throw jobError(final);
      const manifest = final.version
        ? await readManifest(store, spec.view, final.version).catch(() => undefined)
        : undefined;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ registration, job: final })}\n`);
        return;
      }
      process.stdout.write(
        `published ${spec.view} ${final.version}: batch up to speed bucket ${manifest?.job.realtime?.boundary ?? '?'}, realtime after it\n`,
      );
    } finally {
      await store.close();
    }
  });

  withTargetOptions(
    views
      .command('realtime')
      .description('list the views registered for realtime')
      .option('--json', 'print JSON'),
  ).action(async (flags: TargetFlags & { json?: boolean }) => {
    const regs = await coordinatorOf(await resolveTarget(flags)).realtimeViews();
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(regs, null, 2)}\n`);
      return;
    }
    if (regs.length === 0) {
      process.stdout.write(
        'no realtime views; register one with: strata views register <job.ts>\n',
      );
      return;
    }
    const rows = [
      ['view', 'dataset', 'job', 'code', 'every', 'registered'],
      ...regs.map((r) => [
        r.view,
        r.dataset,
        r.spec.name,
        r.spec.codeHash.slice(0, 12),
        formatDuration(r.everyMs),
        isoSeconds(r.registeredAt),
      ]),
    ];
    process.stdout.write(`${formatTable(rows, new Set())}\n`);
  });

  withTargetOptions(
    views
      .command('unregister')
      .description(
        'stop keeping a view realtime (its published versions stay; resubmit the job with strata submit for a plain batch view)',
      )
      .argument('<view>'),
  ).action(async (view: string, flags: TargetFlags) => {
    await coordinatorOf(await resolveTarget(flags)).unregisterRealtime(view);
    process.stdout.write(`${view} is no longer realtime; its realtime state was removed\n`);
  });
}
