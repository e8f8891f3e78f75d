/**
 * `strata dev [--workers N] [--store URL] [--port P] [--log-level L]`: a whole cluster on this
 * machine, in the foreground, until Ctrl-C.
 *
 *   $ strata dev --workers 2
 *   strata dev: cluster up in 1.9 s (Ctrl-C stops it)
 *     coordinator  http://127.0.0.1:7070 (pid 4242)
 *     view server  http://127.0.0.1:41234 (pid 4243)
 *     workers      2: pids 4250, 4251
 *     …
 *
 * Starts its own redis-server, a coordinator, N workers, a view server and the speed layer as child
 * processes
 * (cli/cluster/local-cluster.ts) and writes <home>/cluster.json, which every other command in
 * this folder reads to find the cluster (coordinator URL, token, Redis, store; strata get and
 * strata scan ask its view server). Ctrl-C (or
 * SIGTERM) stops them all and removes the file; if a child dies, the rest are stopped and the
 * command exits 1 with the child's last output.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { clusterFilePath, readClusterFile } from '../../core/cluster-file.ts';
import { loadConfig } from '../../core/config.ts';
import { StrataError } from '../../core/errors.ts';
import { startLocalCluster } from '../cluster/local-cluster.ts';

interface DevFlags {
  workers: string;
  store?: string;
  port?: string;
  logLevel: string;
}

export function register(program: Command): void {
  program
    .command('dev')
    .description(
      'run a local cluster (Redis, coordinator, workers, view server, speed layer) in the foreground until Ctrl-C',
    )
    .option('--workers <n>', 'worker processes', '2')
    .option('--store <url>', 'store URL (default: STRATA_STORE, else .strata/store)')
    .option(
      '--port <port>',
      'coordinator port (default: STRATA_COORDINATOR_PORT, 7070; 0 picks a free one)',
    )
    .option(
      '--log-level <level>',
      'log level of the cluster processes (logs go to .strata/logs)',
      'info',
    )
    .action(async (flags: DevFlags) => {
      const workers = Number(flags.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64)
        throw new StrataError(
          'STRATA_E_USAGE',
          `--workers must be an integer from 1 to 64, got "${flags.workers}"`,
        );
      const config = loadConfig({
        overrides: { store: flags.store, coordinatorPort: flags.port, logLevel: flags.logLevel },
      });
      await refuseIfRunning(config.home);
      const t0 = performance.now();
      const cluster = await startLocalCluster({
        home: config.home,
        workers,
        store: config.store,
        logLevel: config.logLevel,
        ...(config.coordinatorPort === 0 ? {} : { coordinatorPort: config.coordinatorPort }),
      });
      const stop = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('interrupted'));
        process.once('SIGTERM', () => resolve('terminated'));
      });
      const { info } = cluster;
      const rel = (p: string) => path.relative(process.cwd(), p) || '.';
      const say = (line: string) => process.stdout.write(`${line}\n`);
      say(
        `strata dev: cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s (Ctrl-C stops it)`,
      );
      say(`  coordinator   ${info.coordinatorUrl} (pid ${cluster.coordinator.pid})`);
      if (cluster.serve) say(`  view server   ${info.serveUrl} (pid ${cluster.serve.pid})`);
      if (cluster.speed)
        say(
          `  speed ingest  ${info.speedUrl}/v1/datasets/<dataset>/records (pid ${cluster.speed.pid})`,
        );
      say(
        `  workers       ${cluster.workers.length}: pids ${cluster.workers.map((w) => w.pid).join(', ')}`,
      );
      say(
        `  redis         ${info.redisUrl}${cluster.redis ? ` (pid ${cluster.redis.pid})` : ''}, key prefix ${info.redisPrefix}`,
      );
      say(`  store         ${info.store}`);
      say(`  logs          ${rel(cluster.logDir)}/`);
      say(
        `  cluster file  ${rel(clusterFilePath(config.home))} (the other strata commands here read it)`,
      );
      say(
        'try: strata ingest events.ndjson --dataset pageviews && strata submit examples/web-analytics/pageviews.ts --wait',
      );

      const outcome = await Promise.race([
        stop.then((why) => ({ why })),
        cluster.unexpectedExit.then((exit) => ({ exit })),
      ]);
      if ('exit' in outcome) {
        const dead = [
          cluster.coordinator,
          ...cluster.workers,
          ...(cluster.serve ? [cluster.serve] : []),
          ...(cluster.speed ? [cluster.speed] : []),
        ].find((s) => s.name === outcome.exit.name)!;
        await cluster.stop();
        throw new StrataError(
          'STRATA_E_SERVICE_START_FAILED',
          `the ${dead.name} process exited (${outcome.exit.signal ?? `code ${outcome.exit.code}`}); the cluster was stopped. Its last output (full log in ${rel(path.join(cluster.logDir, `${dead.name}.log`))}):\n${dead.tail() || '(none)'}`,
        );
      }
      process.stderr.write(`strata dev: ${outcome.why}, stopping the cluster…\n`);
      await cluster.stop();
      say('strata dev: stopped');
    });
}

/** One cluster per home: a second `strata dev` would overwrite the first one's cluster.json. */
async function refuseIfRunning(home: string): Promise<void> {
  const existing = await readClusterFile(home).catch(() => undefined);
  if (!existing) return;
  const alive = Object.entries(existing.pids).filter(([, pid]) => isAlive(pid));
  if (alive.length === 0) return; // a stale file from a cluster that was killed: start over
  throw new StrataError(
    'STRATA_E_USAGE',
    `a cluster is already running in ${home} (${alive.map(([name, pid]) => `${name} pid ${pid}`).join(', ')}); stop it first (Ctrl-C in its terminal), or use another folder with STRATA_HOME`,
    { details: { home, pids: existing.pids } },
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
