/**
 * `strata serve [--port N] [--host H] [--store URL] [--redis URL]`: runs a read-only view server
 * over every published view until SIGTERM or SIGINT.
 *
 *   $ strata serve --port 0
 *   serve listening on http://127.0.0.1:41234
 *   $ curl http://127.0.0.1:41234/v1/views/pageviews/get/%2Fhome/2024-06-03T14
 *
 * It loads the current version of every view before it prints that line (a parent process reads
 * the URL from it), then follows new versions: Redis announcements when a Redis URL is configured
 * (flag, STRATA_REDIS_URL or .strata/cluster.json), and a check of the store every
 * STRATA_SERVE_POLL_MS in any case. Logs are JSON on stderr.
 */
import type { Command } from 'commander';
import type { OptionName } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { loadServiceConfig, untilStopSignal } from '../cluster/service-config.ts';
import { startViewServer } from '../../serving/start-view-server.ts';

interface ServeFlags {
  port?: string;
  host?: string;
  store?: string;
  redis?: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'run a read-only view server: key lookups, multi-gets and scans over HTTP (until SIGTERM/SIGINT)',
    )
    .option('--port <port>', 'port, 0 for a free one (overrides STRATA_SERVE_PORT, default 7080)')
    .option('--host <address>', 'bind address (overrides STRATA_SERVE_HOST)')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option(
      '--redis <url>',
      'Redis URL for version announcements (overrides STRATA_REDIS_URL); without one the store is polled',
    )
    .action(async (flags: ServeFlags) => {
      const overrides: Partial<Record<OptionName, string | undefined>> = {
        servePort: flags.port,
        serveHost: flags.host,
        store: flags.store,
        redisUrl: flags.redis,
      };
      const config = await loadServiceConfig(overrides);
      const log = createLogger(config).child({ process: 'serve' });
      const server = await startViewServer(config, { log });
      process.stdout.write(`serve listening on ${server.url}\n`);
      const signal = await untilStopSignal();
      log.info({ signal }, 'stopping');
      await server.stop();
    });
}
