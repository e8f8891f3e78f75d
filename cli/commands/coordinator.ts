/**
 * `strata coordinator [--redis URL] [--port N] [--host H] [--store URL] [--token T]`: runs the
 * batch coordinator (HTTP API + scheduler) until SIGTERM or SIGINT.
 *
 *   $ strata coordinator --redis redis://127.0.0.1:6379 --port 0 --token s3cret
 *   coordinator listening on http://127.0.0.1:41234
 *
 * Values left empty (flag, environment) come from <home>/cluster.json when `strata dev` wrote
 * one. The one line above is all that goes to stdout (a parent process reads the URL from it);
 * logs are JSON on stderr.
 */
import type { Command } from 'commander';
import type { OptionName } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { loadServiceConfig, untilStopSignal } from '../cluster/service-config.ts';
import { startCoordinator } from '../../coordinator/start-coordinator.ts';

interface CoordinatorFlags {
  redis?: string;
  port?: string;
  host?: string;
  store?: string;
  token?: string;
}

export function register(program: Command): void {
  program
    .command('coordinator')
    .description(
      'run the batch coordinator: job API, planner, scheduler and commit (until SIGTERM/SIGINT)',
    )
    .option('--redis <url>', 'Redis URL (overrides STRATA_REDIS_URL)')
    .option('--port <port>', 'API port, 0 for a free one (overrides STRATA_COORDINATOR_PORT)')
    .option('--host <address>', 'API bind address (overrides STRATA_COORDINATOR_HOST)')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option('--token <token>', 'API bearer token (overrides STRATA_TOKEN)')
    .action(async (flags: CoordinatorFlags) => {
      const overrides: Partial<Record<OptionName, string | undefined>> = {
        redisUrl: flags.redis,
        coordinatorPort: flags.port,
        coordinatorHost: flags.host,
        store: flags.store,
        token: flags.token,
      };
      const config = await loadServiceConfig(overrides);
      const log = createLogger(config).child({ process: 'coordinator' });
      const coordinator = await startCoordinator(config, { log });
      process.stdout.write(`coordinator listening on ${coordinator.url}\n`);
      const signal = await untilStopSignal();
      log.info({ signal }, 'stopping');
      await coordinator.stop();
    });
}
