/**
 * A real Strata cluster for one test file: its own redis-server, a coordinator and N worker
 * processes (cli/cluster/local-cluster.ts), in a temporary folder, with short timeouts.
 *
 *   const cluster = await startCluster({ workers: 2, memoryBudgetBytes: 256 * 1024 });
 *   afterAll(() => cluster.stop());
 *   await cluster.append('pageviews', events, (e) => Date.parse(e.time));
 *   const run = await cluster.strata(['submit', 'job.ts', '--wait']);   // the real CLI, in cluster.cwd
 *   expect(run.code).toBe(0);
 *
 * `cwd` holds `.strata/cluster.json`, so CLI commands run there find the cluster exactly as a
 * user's do after `strata dev`; their environment has no STRATA_* variables of the test runner.
 * stop() stops every process and removes the folder.
 *
 * Fault tests kill processes (`process.kill(cluster.workers[0].pid, 'SIGKILL')`) and start new
 * ones with the same settings: `await cluster.addWorker()`, `await cluster.startCoordinator()`
 * (info.coordinatorUrl and cluster.json then name the new one). Give `redisUrl` to run on a Redis
 * the test controls (one with AOF that it restarts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeClusterFile, type ClusterInfo } from '../../core/cluster-file.ts';
import type { OptionName } from '../../core/config.ts';
import { DatasetAppender } from '../../core/dataset/dataset-appender.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import {
  settingsEnv,
  startLocalCluster,
  type LocalCluster,
} from '../../cli/cluster/local-cluster.ts';
import { startService, STRATA_BIN, type Service } from '../../cli/cluster/service-process.ts';

/**
 * The ready lines of `strata coordinator` and `strata worker` (as cli/cluster/local-cluster.ts
 * reads them).
 */
const COORDINATOR_READY = /^coordinator listening on (https?:\/\/\S+)/;
const WORKER_READY = /^worker\b.*\b(ready|listening|started|running)\b/i;

export interface TestClusterOptions {
  workers?: number;
  /** Threads per worker process. Default 1 (tests run on 2 cores). */
  workerThreads?: number;
  /** Map-side sort buffer before a spill; small values force spilling. */
  memoryBudgetBytes?: number;
  /** Input split size; small values give many map tasks. */
  splitTargetBytes?: number;
  /** Store URL (e.g. an S3 test server's); default: a file store in the cluster's folder. */
  store?: string;
  /** Any other settings for every process, by config option name. */
  config?: Partial<Record<OptionName, string | number>>;
  logLevel?: string;
  /** Run on this Redis (the test starts, stops and restarts it) instead of the cluster's own. */
  redisUrl?: string;
  /** Start a view server. Default true. */
  viewServer?: boolean;
  /** Start the speed layer. Default true. */
  speed?: boolean;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface TestCluster {
  /** Where CLI commands run; `.strata/` inside it is the cluster's home. */
  cwd: string;
  home: string;
  info: ClusterInfo;
  local: LocalCluster;
  /** The cluster's store, opened in the test process. */
  store: ObjectStore;
  /** Environment for CLI runs: the runner's, without STRATA_* variables. */
  env: NodeJS.ProcessEnv;
  /** Runs `node cli/bin.mjs …args` in `cwd` and collects its output. */
  strata(
    args: string[],
    options?: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number },
  ): Promise<CliRun>;
  /** Appends records to a dataset of the cluster's store (the same write path as strata ingest). */
  append<R extends Record<string, unknown>>(
    dataset: string,
    records: Iterable<R>,
    timeOf: (r: R) => number,
  ): Promise<{ records: number; segments: number }>;
  /** Every worker process started so far, in order: the cluster's first ones, then addWorker's. */
  workers: Service[];
  /** The coordinator process started last (startCoordinator replaces it). */
  coordinator: Service;
  /** Starts one more worker process (worker-<n>) with the same settings as the others. */
  addWorker(): Promise<Service>;
  /**
   * Starts a coordinator process with the cluster's settings (the previous one stopped or killed);
   * info.coordinatorUrl and cluster.json follow it.
   */
  startCoordinator(): Promise<Service>;
  stop(): Promise<void>;
}

export async function startCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cluster-'));
  const home = path.join(cwd, '.strata');
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
  );
  const config: Partial<Record<OptionName, string | number>> = {
    heartbeatMs: 500,
    lockDurationMs: 4000,
    ...(options.memoryBudgetBytes ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
    ...(options.splitTargetBytes ? { splitTargetBytes: options.splitTargetBytes } : {}),
    ...options.config,
  };
  const workerConfig = { workerThreads: options.workerThreads ?? 1 };
  const logLevel = options.logLevel ?? 'info';
  let local: LocalCluster;
  try {
    local = await startLocalCluster({
      home,
      workers: options.workers ?? 2,
      ...(options.store ? { store: options.store } : {}),
      ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
      ...(options.viewServer === false ? { viewServer: false } : {}),
      ...(options.speed === false ? { speed: false } : {}),
      logLevel,
      baseEnv: env,
      config,
      workerConfig,
      readyTimeoutMs: 45_000,
    });
  } catch (err) {
    await rm(cwd, { recursive: true, force: true });
    throw err;
  }
  const store = await openStore(local.info.store);

  const strata: TestCluster['strata'] = (args, o = {}) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const child = execFile(
        process.execPath,
        [STRATA_BIN, ...args],
        { cwd, env: o.env ?? env, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 120_000 },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? (err as { code: number }).code
              : 1
            : 0;
          resolve({ code, stdout, stderr, ms: performance.now() - t0 });
        },
      );
      if (o.stdin !== undefined) child.stdin!.end(o.stdin);
      else child.stdin!.end();
    });

  // What startLocalCluster gives every child, for the processes started later.
  const info = local.info;
  const shared = {
    home,
    store: info.store,
    redisUrl: info.redisUrl,
    redisPrefix: info.redisPrefix,
    token: info.token,
    coordinatorHost: '127.0.0.1',
    coordinatorPort: 0,
    logLevel,
    ...config,
  };
  const logDir = path.join(home, 'logs');
  const workers = [...local.workers];
  const extra: Service[] = [];
  let coordinator = local.coordinator;
  let starts = 0;

  return {
    cwd,
    home,
    info,
    local,
    store,
    env,
    strata,
    workers,
    get coordinator() {
      return coordinator;
    },
    async addWorker() {
      const name = `worker-${workers.length}`;
      const service = await startService({
        name,
        args: ['worker'],
        nodeArgs: ['--enable-source-maps'],
        env: {
          ...env,
          ...settingsEnv({ ...shared, workDir: path.join(home, 'work', name), ...workerConfig }),
        },
        cwd: home,
        logFile: path.join(logDir, `${name}.log`),
        isReady: (line) => WORKER_READY.test(line),
        readyTimeoutMs: 45_000,
      });
      extra.push(service);
      workers.push(service);
      info.pids[name] = service.pid;
      return service;
    },
    async startCoordinator() {
      const name = `coordinator-${++starts}`;
      const service = await startService({
        name,
        args: ['coordinator'],
        env: { ...env, ...settingsEnv(shared) },
        cwd: home,
        logFile: path.join(logDir, `${name}.log`),
        isReady: (line) => COORDINATOR_READY.test(line),
        readyTimeoutMs: 45_000,
      });
      extra.push(service);
      coordinator = service;
      info.coordinatorUrl = COORDINATOR_READY.exec(service.readyLine)![1]!;
      info.pids[name] = service.pid;
      await writeClusterFile(home, info);
      return service;
    },
    async append(dataset, records, timeOf) {
      const appender = new DatasetAppender(store, dataset, {
        segmentTargetBytes: 64 * 1024 * 1024,
        blockTargetBytes: 64 * 1024,
        timeField: 'time',
      });
      try {
        for (const r of records) {
          const wait = appender.append(r, timeOf(r));
          if (wait) await wait;
        }
        const result = await appender.commit();
        return { records: result.records, segments: result.segments.length };
      } catch (err) {
        await appender.abort();
        throw err;
      }
    },
    async stop() {
      await store.close();
      await Promise.all(extra.map((s) => s.stop(s.name.startsWith('worker') ? 12_000 : 5000)));
      await local.stop();
      await rm(cwd, { recursive: true, force: true });
    },
  };
}
