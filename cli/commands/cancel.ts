/**
 * `strata cancel <job id>`: stops a running job; nothing of it is published. Cancelling a job
 * that already ended changes nothing and says so.
 *
 *   $ strata cancel j1763822301
 *   job j1763822301: cancelled
 */
import type { Command } from 'commander';
import {
  coordinatorOf,
  resolveTarget,
  withTargetOptions,
  type TargetFlags,
} from '../cluster/cluster-target.ts';

export function register(program: Command): void {
  const cmd = program
    .command('cancel')
    .description('cancel a running job (nothing of it is published)')
    .argument('<id>', 'the job id (strata jobs lists them)')
    .option('--json', 'print the job status as JSON');
  withTargetOptions(cmd, { store: false }).action(
    async (id: string, flags: TargetFlags & { json?: boolean }) => {
      const job = await coordinatorOf(await resolveTarget(flags)).cancel(id);
      if (flags.json) process.stdout.write(`${JSON.stringify(job)}\n`);
      else
        process.stdout.write(
          job.state === 'cancelled'
            ? `job ${job.id}: cancelled\n`
            : `job ${job.id} had already ended (${job.state}); nothing to cancel\n`,
        );
    },
  );
}
