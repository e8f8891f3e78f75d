/**
 * `strata speed [--port N] [--host H] [--store URL] [--redis URL] [--token T]`: runs the speed
 * layer's ingest API until SIGTERM or SIGINT.
 *
 *   $ strata speed --port 0
 *   speed listening on http://127.0.0.1:41234
 *   $ curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' \
 *       --data-binary @ticks.ndjson http://127.0.0.1:41234/v1/datasets/ticks/records
 *   {"records":1000,"commitId":17,"bucket":29446201,"segments":["master/ticks/dt=…-b29446201-….seg"]}
 *
 * It takes the cluster's speed lease (a second one on the same prefix exits with
 * STRATA_E_SPEED_LEADER), finishes commits a killed predecessor left in flight, and only then
 * prints its ready line (a parent process reads the URL from it). Values left empty come from
 * <home>/cluster.json when `strata dev` wrote one. Logs are JSON on stderr.
 */
import type { Command } from 'commander';
import type { OptionName } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { createCommitHook } from '../../speed/commit-hook.ts';
import { startSpeedServer } from '../../speed/start-speed-server.ts';
import { loadServiceConfig, untilStopSignal } from '../cluster/service-config.ts';

interface SpeedFlags {
  port?: string;
  host?: string;
  store?: string;
  redis?: string;
  token?: string;
}

export function register(program: Command): void {
  program
    .command('speed')
    .description(
      'run the speed layer: the HTTP ingest API that group-commits records to the master dataset (until SIGTERM/SIGINT)',
    )
    .option('--port <port>', 'port, 0 for a free one (overrides STRATA_SPEED_PORT, default 7090)')
    .option('--host <address>', 'bind address (overrides STRATA_SPEED_HOST)')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option('--redis <url>', 'Redis URL (overrides STRATA_REDIS_URL)')
    .option('--token <token>', 'API bearer token (overrides STRATA_TOKEN)')
    .action(async (flags: SpeedFlags) => {
      const overrides: Partial<Record<OptionName, string | undefined>> = {
        speedPort: flags.port,
        speedHost: flags.host,
        store: flags.store,
        redisUrl: flags.redis,
        token: flags.token,
      };
      const config = await loadServiceConfig(overrides);
      const log = createLogger(config).child({ process: 'speed' });
      const hook = await createCommitHook(config, log);
      let server;
      try {
        server = await startSpeedServer(config, { onCommitted: hook?.onCommitted, log });
      } catch (err) {
        await hook?.close();
        throw err;
      }
      process.stdout.write(`speed listening on ${server.url}\n`);
      const outcome = await Promise.race([
        untilStopSignal().then((signal) => ({ signal })),
        server.lost.then((lost) => ({ lost })),
      ]);
      log.info(outcome, 'stopping');
      await server.close();
      await hook?.close();
      if ('lost' in outcome) throw outcome.lost;
    });
}
