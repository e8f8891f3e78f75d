/**
 * A whole Strata cluster on this machine, as real processes: its own redis-server, a coordinator,
 * N workers, a view server and the speed layer (`node cli/bin.mjs coordinator|worker|serve|speed`).
 * `strata dev`,
 * `strata demo` and the integration tests start clusters this way.
 *
 *   const cluster = await startLocalCluster({ home: '.strata', workers: 2 });
 *   cluster.info;          // { redisUrl, redisPrefix, token, coordinatorUrl, serveUrl, speedUrl, store, pids } (also in .strata/cluster.json)
 *   await cluster.stop();  // workers, then coordinator, view server and speed, then Redis; removes cluster.json
 *
 * Each cluster gets a random token and a random Redis key prefix, so clusters never see each
 * other's queues even on a shared Redis. Children are configured through their environment
 * (the STRATA_* variables of core/config.ts), their output goes to <home>/logs/<name>.log, and a
 * child that dies before it is ready fails the start with its last lines. Nothing outlives us:
 * a start that fails half way stops what it started.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { removeClusterFile, writeClusterFile, type ClusterInfo } from '../../core/cluster-file.ts';
import { OPTIONS, type OptionName } from '../../core/config.ts';
import { startRedisServer, type RedisServer } from '../../core/redis/start-redis-server.ts';
import { startService, type Service, type ServiceExit } from './service-process.ts';

/**
 * What `strata coordinator` prints on stdout once its API listens (cli/commands/coordinator.ts).
 */
const COORDINATOR_READY = /^coordinator listening on (https?:\/\/\S+)/;
/** What `strata worker` prints on stdout once it takes tasks. */
const WORKER_READY = /^worker\b.*\b(ready|listening|started|running)\b/i;
/**
 * What `strata serve` prints once every published view is loaded and it listens
 * (cli/commands/serve.ts).
 */
const SERVE_READY = /^serve listening on (https?:\/\/\S+)/;
/**
 * What `strata speed` prints once it holds the speed lease, has recovered and listens
 * (cli/commands/speed.ts).
 */
const SPEED_READY = /^speed listening on (https?:\/\/\S+)/;

export interface LocalClusterOptions {
  /** Folder for cluster.json, logs, Redis and worker scratch space; created if missing. */
  home: string;
  /** Worker processes. Default 2. */
  workers?: number;
  /** Store URL. Default file://<home>/store. */
  store?: string;
  /** Log level of the children (their JSON logs go to <home>/logs). Default 'info'. */
  logLevel?: string;
  /** Use this Redis instead of starting one (the cluster then leaves it running). */
  redisUrl?: string;
  /** Coordinator port. Default 0: a free one, read back from its ready line. */
  coordinatorPort?: number;
  /** Start a view server (`strata serve`). Default true. */
  viewServer?: boolean;
  /** View server port. Default 0: a free one, read back from its ready line. */
  servePort?: number;
  /** Start the speed layer (`strata speed`). Default true. */
  speed?: boolean;
  /** Speed layer port. Default 0: a free one, read back from its ready line. */
  speedPort?: number;
  /**
   * Further settings for every child, by config option name (memoryBudgetBytes, heartbeatMs, …).
   */
  config?: Partial<Record<OptionName, string | number>>;
  /** Per-child settings for the workers only (e.g. workerThreads). */
  workerConfig?: Partial<Record<OptionName, string | number>>;
  /** The environment the children inherit before Strata's settings. Default: this process's. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Milliseconds each child has to report ready. Default 30 000. */
  readyTimeoutMs?: number;
  /**
   * Don't write <home>/cluster.json (tests that run several clusters in one home). Default false.
   */
  noClusterFile?: boolean;
}

export interface LocalCluster {
  info: ClusterInfo;
  home: string;
  logDir: string;
  redis: RedisServer | undefined;
  coordinator: Service;
  workers: Service[];
  /** The view server, unless started with viewServer: false. */
  serve: Service | undefined;
  /** The speed layer, unless started with speed: false. */
  speed: Service | undefined;
  /** Resolves when any child exits while the cluster is meant to be running. */
  unexpectedExit: Promise<{ name: string } & ServiceExit>;
  stop(): Promise<void>;
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const home = path.resolve(options.home);
  const logDir = path.join(home, 'logs');
  const workerCount = options.workers ?? 2;
  // Stopped by level, highest first, each level at once: workers (they hold nothing the
  // coordinator needs), then the coordinator and the view server, then Redis, which all of them
  // talk to until the end.
  const started: Array<{ level: number; stop: () => Promise<unknown> }> = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const level of [2, 1, 0])
      await Promise.all(
        started.filter((s) => s.level === level).map((s) => s.stop().catch(() => {})),
      );
  };
  try {
    let redis: RedisServer | undefined;
    if (!options.redisUrl) {
      redis = await startRedisServer({ dir: path.join(home, 'redis') });
      started.push({ level: 0, stop: () => redis!.stop() });
    }
    const port = options.coordinatorPort ?? 0;
    const info: ClusterInfo = {
      redisUrl: options.redisUrl ?? redis!.url,
      redisPrefix: `strata-${randomBytes(4).toString('hex')}`,
      token: randomBytes(24).toString('base64url'),
      coordinatorUrl: '', // from the coordinator's ready line: it may have picked a free port
      store: options.store ?? `file://${path.join(home, 'store')}`,
      pids: redis ? { redis: redis.pid } : {},
    };
    const shared: Partial<Record<OptionName, string | number>> = {
      home,
      store: info.store,
      redisUrl: info.redisUrl,
      redisPrefix: info.redisPrefix,
      token: info.token,
      coordinatorHost: '127.0.0.1',
      coordinatorPort: port,
      logLevel: options.logLevel ?? 'info',
      ...options.config,
    };
    const base = options.baseEnv ?? process.env;
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;

    // The coordinator and the workers start side by side: workers need only Redis and the store.
    const startCoordinator = startService({
      name: 'coordinator',
      args: ['coordinator'],
      env: { ...base, ...settingsEnv(shared) },
      cwd: home,
      logFile: path.join(logDir, 'coordinator.log'),
      isReady: (line) => COORDINATOR_READY.test(line),
      readyTimeoutMs,
    });
    const startWorkers = Array.from({ length: workerCount }, (_, i) =>
      startService({
        name: `worker-${i}`,
        args: ['worker'],
        // Worker threads inherit these Node options: stacks of user code map back to their .ts
        // lines.
        nodeArgs: ['--enable-source-maps'],
        env: {
          ...base,
          ...settingsEnv({
            ...shared,
            workDir: path.join(home, 'work', `worker-${i}`),
            ...options.workerConfig,
          }),
        },
        cwd: home,
        logFile: path.join(logDir, `worker-${i}.log`),
        isReady: (line) => WORKER_READY.test(line),
        readyTimeoutMs,
      }),
    );
    // The view server needs only Redis (announcements) and the store, so it starts alongside.
    const startServe =
      options.viewServer === false
        ? []
        : [
            startService({
              name: 'serve',
              args: ['serve'],
              env: {
                ...base,
                ...settingsEnv({
                  ...shared,
                  serveHost: '127.0.0.1',
                  servePort: options.servePort ?? 0,
                }),
              },
              cwd: home,
              logFile: path.join(logDir, 'serve.log'),
              isReady: (line) => SERVE_READY.test(line),
              readyTimeoutMs,
            }),
          ];
    // The speed layer needs only Redis and the store too.
    const startSpeed =
      options.speed === false
        ? []
        : [
            startService({
              name: 'speed',
              args: ['speed'],
              env: {
                ...base,
                ...settingsEnv({
                  ...shared,
                  speedHost: '127.0.0.1',
                  speedPort: options.speedPort ?? 0,
                }),
              },
              cwd: home,
              logFile: path.join(logDir, 'speed.log'),
              isReady: (line) => SPEED_READY.test(line),
              readyTimeoutMs,
            }),
          ];
    const results = await Promise.allSettled([
      startCoordinator,
      ...startWorkers,
      ...startServe,
      ...startSpeed,
    ]);
    const services = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // Workers hand their running tasks back within their own grace (10 s, worker-process.ts);
    // a SIGKILL before that would lose the hand-back, so they get a little longer.
    for (const service of services) {
      const worker = service.name.startsWith('worker-');
      started.push({ level: worker ? 2 : 1, stop: () => service.stop(worker ? 12_000 : 5000) });
    }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const coordinator = services.find((s) => s.name === 'coordinator')!;
    const workers = services.filter((s) => s.name.startsWith('worker-'));
    const serve = services.find((s) => s.name === 'serve');
    info.coordinatorUrl = COORDINATOR_READY.exec(coordinator.readyLine)![1]!;
    if (serve) info.serveUrl = SERVE_READY.exec(serve.readyLine)![1]!;
    const speed = services.find((s) => s.name === 'speed');
    if (speed) info.speedUrl = SPEED_READY.exec(speed.readyLine)![1]!;
    for (const s of services) info.pids[s.name] = s.pid;

    if (!options.noClusterFile) await writeClusterFile(home, info);
    const unexpectedExit = new Promise<{ name: string } & ServiceExit>((resolve) => {
      for (const s of services)
        void s.exited.then((e) => !stopping && resolve({ name: s.name, ...e }));
    });
    let stopped: Promise<void> | undefined;
    return {
      info,
      home,
      logDir,
      redis,
      coordinator,
      workers,
      serve,
      speed,
      unexpectedExit,
      stop: () =>
        (stopped ??= (async () => {
          await stopAll();
          if (!options.noClusterFile) await removeClusterFile(home);
        })()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Config option values as the STRATA_* variables core/config.ts reads (one table of names). */
export function settingsEnv(
  settings: Partial<Record<OptionName, string | number | undefined>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings) as [
    OptionName,
    string | number | undefined,
  ][]) {
    if (value !== undefined) env[OPTIONS[name].env] = String(value);
  }
  return env;
}
