/**
 * The cluster `npm run chaos` tortures: its own redis-server, a coordinator and N workers as real
 * child processes (`node cli/bin.mjs coordinator|worker`, as cli/cluster/local-cluster.ts starts
 * them), with the two moves chaos needs that a normal cluster never makes: SIGKILL one process and
 * start its replacement with the same settings.
 *
 *   const cluster = await startChaosCluster({ home, workers: 3, config: { lockDurationMs: 5000 } });
 *   const killed = await cluster.killWorker('worker-1');   // SIGKILL, resolves once it is gone
 *   await cluster.startWorker();                            // a replacement (new name, new work dir)
 *   await cluster.killCoordinator(); await cluster.startCoordinator();   // same port, same Redis
 *   await cluster.stop();  cluster.pids;                    // every pid it ever started
 *
 * The coordinator keeps its port across restarts (the port it first got), so clients keep their
 * URL; a replacement worker gets a fresh work dir, as a new machine would.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { OptionName } from '../core/config.ts';
import { startRedisServer, type RedisServer } from '../core/redis/start-redis-server.ts';
import { settingsEnv } from '../cli/cluster/local-cluster.ts';
import { startService, type Service } from '../cli/cluster/service-process.ts';

export interface ChaosClusterOptions {
  home: string;
  store: string;
  workers: number;
  config?: Partial<Record<OptionName, string | number>>;
  /** The children's environment before Strata's settings. */
  baseEnv: NodeJS.ProcessEnv;
}

export interface ChaosWorker {
  name: string;
  /** The id the worker registers under (what task records name). */
  id: string;
  service: Service;
}

export interface ChaosCluster {
  redisUrl: string;
  redisPrefix: string;
  token: string;
  coordinatorUrl: string;
  /** Live workers by name. */
  workers: Map<string, ChaosWorker>;
  /** Every pid this cluster started, dead or alive. */
  pids: number[];
  startWorker(): Promise<ChaosWorker>;
  /** SIGKILL; resolves once the process is gone. */
  killWorker(name: string): Promise<ChaosWorker>;
  startCoordinator(): Promise<void>;
  killCoordinator(): Promise<void>;
  stop(): Promise<void>;
}

const WORKER_READY = /^worker (\S+) ready\b/;
const COORDINATOR_READY = /^coordinator listening on (https?:\/\/\S+)/;

export async function startChaosCluster(o: ChaosClusterOptions): Promise<ChaosCluster> {
  const pids: number[] = [];
  const workers = new Map<string, ChaosWorker>();
  let coordinator: Service | undefined;
  let redis: RedisServer | undefined;
  let workerSeq = 0;
  let coordinatorRuns = 0;
  const redisPrefix = `chaos-${randomBytes(4).toString('hex')}`;
  const token = randomBytes(24).toString('base64url');

  redis = await startRedisServer({ dir: path.join(o.home, 'redis') });
  pids.push(redis.pid);
  const shared = (port: number): Partial<Record<OptionName, string | number>> => ({
    home: o.home,
    store: o.store,
    redisUrl: redis!.url,
    redisPrefix,
    token,
    coordinatorHost: '127.0.0.1',
    coordinatorPort: port,
    logLevel: 'warn',
    ...o.config,
  });
  let coordinatorPort = 0;
  let coordinatorUrl = '';

  const startCoordinator = async () => {
    const service = await startService({
      name: 'coordinator',
      args: ['coordinator'],
      env: { ...o.baseEnv, ...settingsEnv(shared(coordinatorPort)) },
      cwd: o.home,
      logFile: path.join(o.home, 'logs', `coordinator-${++coordinatorRuns}.log`),
      isReady: (line) => COORDINATOR_READY.test(line),
      readyTimeoutMs: 60_000,
    });
    pids.push(service.pid);
    coordinator = service;
    coordinatorUrl = COORDINATOR_READY.exec(service.readyLine)![1]!;
    coordinatorPort = Number(new URL(coordinatorUrl).port);
  };

  const startWorker = async (): Promise<ChaosWorker> => {
    const name = `worker-${workerSeq++}`;
    const service = await startService({
      name,
      args: ['worker'],
      nodeArgs: ['--enable-source-maps'],
      env: {
        ...o.baseEnv,
        ...settingsEnv({
          ...shared(coordinatorPort),
          workDir: path.join(o.home, 'work', name),
          workerThreads: 1,
        }),
      },
      cwd: o.home,
      logFile: path.join(o.home, 'logs', `${name}.log`),
      isReady: (line) => WORKER_READY.test(line),
      readyTimeoutMs: 60_000,
    });
    pids.push(service.pid);
    const worker = { name, id: WORKER_READY.exec(service.readyLine)![1]!, service };
    workers.set(name, worker);
    return worker;
  };

  const sigkill = async (service: Service) => {
    try {
      process.kill(service.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await service.exited;
  };

  const cluster: ChaosCluster = {
    redisUrl: redis.url,
    redisPrefix,
    token,
    get coordinatorUrl() {
      return coordinatorUrl;
    },
    workers,
    pids,
    startWorker,
    async killWorker(name) {
      const worker = workers.get(name);
      if (!worker) throw new Error(`no live worker ${name}`);
      workers.delete(name);
      await sigkill(worker.service);
      return worker;
    },
    startCoordinator,
    async killCoordinator() {
      if (coordinator) await sigkill(coordinator);
      coordinator = undefined;
    },
    async stop() {
      await Promise.all([...workers.values()].map((w) => w.service.stop(12_000)));
      workers.clear();
      await coordinator?.stop(5000);
      await redis?.stop();
      redis = undefined;
    },
  };
  try {
    await startCoordinator();
    await Promise.all(Array.from({ length: o.workers }, () => startWorker()));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
