/**
 * Plain tasks on the cluster's worker pool, Ray-style: call exported functions of a module on
 * the workers and await their results.
 *
 *   // simulate.ts
 *   import { connectPool, isMainModule } from 'strata/pool';
 *   export function simulate(seed: number): number { … }
 *
 *   if (isMainModule(import.meta.url)) {
 *     const pool = await connectPool(import.meta.url);       // bundles & uploads this module
 *     const y = await pool.run(simulate, [42]);              // one call on some worker
 *     const ys = await pool.map(simulate, [[1], [2], [3]]);  // many, results in order
 *     await pool.close();
 *   }
 *
 * A function must be a named export of the module passed to connectPool (workers import that
 * module's bundle and call the export by name); arguments and results must be plain data. Every
 * worker runs the module's top-level code when it imports it, hence the isMainModule guard (or
 * keep the tasks in a module of their own: connectPool(new URL('./tasks.ts', import.meta.url))).
 * A task that throws rejects with the worker's StrataError, its code and the task's own stack.
 * The cluster is found like the CLI finds it: options, STRATA_* settings, then
 * .strata/cluster.json.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../core/config.ts';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import {
  bullJobId,
  TASK_QUEUE,
  type CallResult,
  type CallTask,
} from '../../core/tasks/task-payload.ts';
import { bundleModule, uploadBundle, type ModuleBundle } from '../bundle-job.ts';
import { openTargetStore, resolveTarget } from '../cluster/cluster-target.ts';

export interface PoolOptions {
  /** Default: STRATA_REDIS_URL, else .strata/cluster.json. */
  redisUrl?: string;
  redisPrefix?: string;
  /** The store the workers read bundles from. Default: as for the CLI. */
  store?: string;
  /** Folder holding cluster.json. Default: STRATA_HOME (.strata). */
  home?: string;
  /** Attempts per call when a worker is lost. Default: the cluster's taskAttempts setting. */
  attempts?: number;
}

// biome-ignore lint: any function of plain data
type TaskFn = (...args: any[]) => unknown;

export class Pool {
  #next = 0;
  #closed = false;

  /** @internal use connectPool */
  constructor(
    readonly bundle: ModuleBundle,
    readonly poolId: string,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
    private readonly attempts: number,
  ) {}

  /** Calls `fn(...args)` on a worker. */
  async run<F extends TaskFn>(
    fn: F | string,
    args: Parameters<F>,
  ): Promise<Awaited<ReturnType<F>>> {
    const [result] = await this.map(fn, [args]);
    return result!;
  }

  /** Calls `fn` once per argument list, all at once; results in the order of `argsList`. */
  async map<F extends TaskFn>(
    fn: F | string,
    argsList: ReadonlyArray<Parameters<F>>,
  ): Promise<Array<Awaited<ReturnType<F>>>> {
    if (this.#closed)
      throw new StrataError(
        'STRATA_E_USAGE',
        'this pool is closed; connect a new one with connectPool()',
      );
    const exportName = this.#exportName(fn);
    const tasks: CallTask[] = argsList.map((args) => {
      if (!Array.isArray(args))
        throw new StrataError(
          'STRATA_E_USAGE',
          `pool.run/map take argument lists (arrays): pool.run(${exportName}, [42]), pool.map(${exportName}, [[1], [2]])`,
        );
      return {
        kind: 'call',
        jobId: this.poolId,
        taskId: `c-${this.#next++}`,
        attempt: 1,
        codeHash: this.bundle.sha256,
        exportName,
        args: [...args],
      };
    });
    const jobs = await this.queue.addBulk(
      tasks.map((task) => ({
        name: 'call',
        data: task,
        opts: {
          jobId: bullJobId(task),
          attempts: this.attempts,
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      })),
    );
    const settled = await Promise.allSettled(jobs.map((job) => job.waitUntilFinished(this.events)));
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0)
      throw await this.#failure(
        jobs[failed]!.id!,
        (settled[failed] as PromiseRejectedResult).reason,
        exportName,
      );
    return settled.map(
      (s) =>
        ((s as PromiseFulfilledResult<CallResult>).value as CallResult).value as Awaited<
          ReturnType<F>
        >,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.events.close();
    await this.queue.close();
    for (const c of this.connections) c.disconnect();
  }

  #exportName(fn: TaskFn | string): string {
    const name = typeof fn === 'string' ? fn : fn.name;
    if (name && name !== 'default' && this.bundle.exports.includes(name)) return name;
    const file = path.basename(this.bundle.entry);
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `${name ? `"${name}"` : 'an anonymous function'} is not a named export of ${file}; workers can only call the module's exports. Export it (export function ${name || 'simulate'}(…) { … }); the exports are: ${this.bundle.exports.filter((e) => e !== 'default').join(', ') || '(none)'}`,
      { details: { exportName: name, file: this.bundle.entry, exports: this.bundle.exports } },
    );
  }

  /**
   * The worker's error, revived from the failed job (its failedReason carries StrataError JSON).
   */
  async #failure(jobId: string, reason: unknown, exportName: string): Promise<StrataError> {
    const job = await this.queue.getJob(jobId).catch(() => undefined);
    const text = job?.failedReason ?? (reason instanceof Error ? reason.message : String(reason));
    const revived = reviveTaskError(text);
    if (revived) return revived;
    return new StrataError(
      'STRATA_E_INTERNAL',
      `the call ${exportName}() of ${path.basename(this.bundle.entry)} failed on the pool: ${text}`,
      {
        details: { jobId, exportName, stacktrace: job?.stacktrace },
      },
    );
  }
}

/** A worker failure message that is (or ends with) StrataError JSON, as a StrataError. */
export function reviveTaskError(text: string): StrataError | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    const json = JSON.parse(text.slice(start)) as StrataErrorJSON;
    if (json && typeof json.code === 'string' && typeof json.message === 'string')
      return StrataError.fromJSON(json);
  } catch {
    // not JSON: the caller reports the text as it is
  }
  return undefined;
}

/** Bundles the module at `moduleUrl`, uploads it, and connects to the cluster's task queue. */
export async function connectPool(
  moduleUrl: string | URL,
  options: PoolOptions = {},
): Promise<Pool> {
  const file =
    typeof moduleUrl === 'string' && !moduleUrl.startsWith('file:')
      ? path.resolve(moduleUrl)
      : fileURLToPath(moduleUrl);
  const config = loadConfig({
    overrides: {
      store: options.store,
      home: options.home,
      redisUrl: options.redisUrl,
      redisPrefix: options.redisPrefix,
    },
  });
  const target = await resolveTarget({ store: options.store }, { config });
  if (!target.redisUrl) {
    throw new StrataError(
      'STRATA_E_REDIS_UNAVAILABLE',
      `no cluster to connect the pool to: no Redis URL is configured and ${target.config.home}/cluster.json does not exist; start a cluster with strata dev, or pass { redisUrl } / set STRATA_REDIS_URL`,
      {
        details: { home: target.config.home },
      },
    );
  }
  const bundle = await bundleModule(file);
  const store = await openTargetStore(target);
  try {
    await uploadBundle(store, bundle);
  } finally {
    await store.close();
  }
  const connections: Redis[] = [];
  try {
    connections.push(await connectRedis(target.redisUrl, { role: 'queue', name: 'pool' }));
    connections.push(await connectRedis(target.redisUrl, { role: 'queue', name: 'pool-events' }));
  } catch (err) {
    for (const c of connections) c.disconnect();
    throw err;
  }
  const queue = new Queue(TASK_QUEUE, { connection: connections[0]!, prefix: target.redisPrefix });
  const events = new QueueEvents(TASK_QUEUE, {
    connection: connections[1]!,
    prefix: target.redisPrefix,
  });
  // Every awaited call adds a listener to both for as long as it runs; a map of thousands is
  // normal.
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  await events.waitUntilReady();
  const poolId = `pool-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  return new Pool(
    bundle,
    poolId,
    queue,
    events,
    connections,
    options.attempts ?? config.taskAttempts,
  );
}

/**
 * True when `importMetaUrl` is the program node (or tsx) was started with, not a module a worker
 * imported.
 */
export function isMainModule(importMetaUrl: string): boolean {
  const main = process.argv[1];
  if (!main) return false;
  const mainUrl = pathToFileURL(path.resolve(main)).href;
  return (
    importMetaUrl === mainUrl ||
    importMetaUrl.replace(/\.[cm]?[jt]s$/, '') === mainUrl.replace(/\.[cm]?[jt]s$/, '')
  );
}
