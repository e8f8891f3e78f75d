/**
 * `strata worker [--redis URL] [--store URL] [--token T] [--threads N] [--work-dir DIR]
 * [--shuffle-port P]`:
 * runs a worker (map, reduce and plain tasks in threads; the shuffle server) until SIGTERM or
 * SIGINT.
 *
 *   $ strata worker --threads 4
 *   worker myhost-4242-9f1c ready (shuffle 127.0.0.1:41234, 4 threads)
 *
 * Values left empty (flag, environment) come from <home>/cluster.json when `strata dev` wrote
 * one. The ready line is all that goes to stdout (a parent process waits for it); logs are JSON
 * on stderr. On SIGTERM running tasks get a grace period, then go back on the queue; a second
 * signal exits at once.
 */
import type { Command } from 'commander';
import { loadConfig, type OptionName } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { untilStopSignal } from '../cluster/service-config.ts';
import { startWorker } from '../../worker/worker-process.ts';

interface WorkerFlags {
  redis?: string;
  store?: string;
  token?: string;
  threads?: string;
  workDir?: string;
  shufflePort?: string;
  graceMs?: string;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker: takes map, reduce and plain tasks from the queue and serves map outputs (until SIGTERM/SIGINT)',
    )
    .option('--redis <url>', 'Redis URL (overrides STRATA_REDIS_URL)')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option(
      '--token <token>',
      'cluster token, shared by the shuffle servers (overrides STRATA_TOKEN)',
    )
    .option('--threads <n>', 'task threads, 0 for one per core (overrides STRATA_WORKER_THREADS)')
    .option(
      '--work-dir <dir>',
      'local folder for spills and map outputs (overrides STRATA_WORK_DIR)',
    )
    .option(
      '--shuffle-port <port>',
      'shuffle gRPC port, 0 for a free one (overrides STRATA_SHUFFLE_PORT)',
    )
    .option(
      '--grace-ms <ms>',
      'on SIGTERM, how long running tasks may finish before they go back on the queue',
      '10000',
    )
    .action(async (flags: WorkerFlags) => {
      const overrides: Partial<Record<OptionName, string | undefined>> = {
        redisUrl: flags.redis,
        store: flags.store,
        token: flags.token,
        workerThreads: flags.threads,
        workDir: flags.workDir,
        shufflePort: flags.shufflePort,
      };
      const config = loadConfig({ overrides });
      const log = createLogger(config).child({ process: 'worker' });
      const worker = await startWorker(config, { log });
      process.stdout.write(
        `worker ${worker.id} ready (shuffle ${worker.address}, ${worker.threads} threads)\n`,
      );
      const signal = await untilStopSignal();
      const again = () => process.exit(130);
      process.once('SIGTERM', again);
      process.once('SIGINT', again);
      log.info({ signal }, 'stopping');
      await worker.stop(Number(flags.graceMs ?? 10_000));
      // Exit even if a library left a handle open; the timer itself keeps nothing alive.
      setTimeout(() => process.exit(0), 2000).unref();
    });
}
