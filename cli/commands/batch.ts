/**
 * `strata batch [view…] [--every <duration>] [--no-wait]`: the batch layer's loop, by hand.
 *
 *   $ strata batch                  # recompute every realtime view now, wait, print the versions
 *   $ strata batch pageviews --every 10m   # from now on the coordinator recomputes pageviews every 10 minutes
 *   $ strata batch pageviews --every off   # only when asked
 *
 * A recomputation seals the view's dataset (every later ingest goes to a newer speed bucket),
 * waits for commits still in flight, and runs the job over everything up to the seal; once it
 * publishes, view servers answer batch ⊕ the realtime buckets after the seal, and the buckets it
 * covers are dropped. The coordinator runs the periodic loop itself (registered with
 * `strata views register --every`), so nothing needs to stay running for it.
 */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.ts';
import type { JobStatus } from '../coordinator-client.ts';
import {
  coordinatorOf,
  resolveTarget,
  withTargetOptions,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import { formatDuration, parseDuration } from '../duration.ts';
import { jobError } from './submit.ts';

interface BatchFlags extends TargetFlags {
  every?: string;
  wait: boolean;
}

export function register(program: Command): void {
  withTargetOptions(
    program
      .command('batch')
      .description('recompute realtime views now, or set how often the batch layer recomputes them')
      .argument('[views...]', 'realtime views (default: every registered one)')
      .option(
        '--every <duration>',
        'set the recomputation period of the views (e.g. 10m, 1h, off) instead of recomputing now',
      )
      .option('--no-wait', 'return once the recomputations are submitted'),
  ).action(async (names: string[], flags: BatchFlags) => {
    const api = coordinatorOf(await resolveTarget(flags));
    const views = names.length > 0 ? names : (await api.realtimeViews()).map((r) => r.view);
    if (views.length === 0)
      throw new StrataError(
        'STRATA_E_USAGE',
        'no realtime views are registered; register one with strata views register <job.ts>',
      );
    if (flags.every !== undefined) {
      const everyMs = parseDuration(flags.every, '--every');
      for (const view of views) {
        await api.setCadence(view, everyMs);
        process.stdout.write(`${view}: recomputed every ${formatDuration(everyMs)}\n`);
      }
      return;
    }
    const jobs: JobStatus[] = [];
    for (const view of views) {
      const job = await api.recompute(view);
      jobs.push(job);
      process.stderr.write(`${view}: recomputation job ${job.id} submitted\n`);
    }
    if (!flags.wait) return;
    let failed: StrataError | undefined;
    for (const job of jobs) {
      const final = await api.waitFor(job.id);
      if (final.state !== 'succeeded') {
        failed ??= jobError(final);
        process.stderr.write(`${final.spec.view}: job ${final.id} ${final.state}\n`);
        continue;
      }
      process.stdout.write(
        `${final.spec.view}: published ${final.version} (job ${final.id}, ${(((final.finished ?? Date.now()) - final.submitted) / 1000).toFixed(1)} s)\n`,
      );
    }
    if (failed) throw failed;
  });
}
