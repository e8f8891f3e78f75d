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
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ClusterInfo } from '../../core/cluster-file.ts';
import type { OptionName } from '../../core/config.ts';
import { DatasetAppender } from '../../core/dataset/dataset-appender.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { startLocalCluster, type LocalCluster } from '../../cli/cluster/local-cluster.ts';
import { STRATA_BIN } from '../../cli/cluster/service-process.ts';

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
  strata(args: string[], options?: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number }): Promise<CliRun>;
  /** Appends records to a dataset of the cluster's store (the same write path as strata ingest). */
  append<R extends Record<string, unknown>>(dataset: string, records: Iterable<R>, timeOf: (r: R) => number): Promise<{ records: number; segments: number }>;
  stop(): Promise<void>;
}

export async function startCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cluster-'));
  const home = path.join(cwd, '.strata');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')));
  let local: LocalCluster;
  try {
    local = await startLocalCluster({
      home,
      workers: options.workers ?? 2,
      ...(options.store ? { store: options.store } : {}),
      logLevel: options.logLevel ?? 'info',
      baseEnv: env,
      config: {
        heartbeatMs: 500,
        lockDurationMs: 4000,
        ...(options.memoryBudgetBytes ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
        ...(options.splitTargetBytes ? { splitTargetBytes: options.splitTargetBytes } : {}),
        ...options.config,
      },
      workerConfig: { workerThreads: options.workerThreads ?? 1 },
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
      const child = execFile(process.execPath, [STRATA_BIN, ...args], { cwd, env: o.env ?? env, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr, ms: performance.now() - t0 });
      });
      if (o.stdin !== undefined) child.stdin!.end(o.stdin);
      else child.stdin!.end();
    });

  return {
    cwd,
    home,
    info: local.info,
    local,
    store,
    env,
    strata,
    async append(dataset, records, timeOf) {
      const appender = new DatasetAppender(store, dataset, { segmentTargetBytes: 64 * 1024 * 1024, blockTargetBytes: 64 * 1024, timeField: 'time' });
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
      await local.stop();
      await rm(cwd, { recursive: true, force: true });
    },
  };
}
