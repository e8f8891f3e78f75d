/**
 * What the fault tests share: a real cluster (test/support/cluster.ts: redis-server, coordinator
 * and worker processes) with pageviews in its store and the visits job (visits-job.ts) bundled
 * and uploaded as `strata submit` would; jobs submitted and watched through the coordinator's API
 * (whichever coordinator is current); the worker registry in Redis; a view version's part files
 * as bytes.
 *
 *   const f = await startFaultCluster({ workers: 3 });
 *   const ref = await f.run({});                               // a fault-free run: its part files
 *   const id = await f.submit({ mapPauseMs: 40 });
 *   const s = await f.waitFor(id, 'a map running', (s) => s.tasks!.some((t) => t.state === 'running'));
 *   await f.kill(await f.workerService(s.tasks![0]!.worker!));
 *
 * Nothing here sleeps blindly: every wait polls real state (task states in Redis through the
 * API, the registry) until a condition holds, and fails with the last state it saw.
 */
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { bundleJob, uploadBundle } from '../../../cli/bundle-job.ts';
import {
  CoordinatorClient,
  TERMINAL_STATES,
  type JobStatus,
  type TaskStatus,
} from '../../../cli/coordinator-client.ts';
import type { Service } from '../../../cli/cluster/service-process.ts';
import { connectRedis } from '../../../core/redis/connect-redis.ts';
import { workersKey } from '../../../core/redis/cluster-keys.ts';
import { TASK_QUEUE, type JobSpec, type ParamValue } from '../../../core/tasks/task-payload.ts';
import { partKey } from '../../../core/views/view-layout.ts';
import { generatePageviews } from '../../../examples/web-analytics/generate-pageviews.ts';
import { startCluster, type TestCluster, type TestClusterOptions } from '../../support/cluster.ts';

export const VIEW = 'visits';
const JOB_FILE = path.join(import.meta.dirname, 'visits-job.ts');

export interface FaultCluster {
  cluster: TestCluster;
  /** The job's spec with these params (defaults for the rest). */
  spec(params?: Record<string, ParamValue>): JobSpec;
  submit(params?: Record<string, ParamValue>): Promise<string>;
  /** GET /v1/jobs/:id?tasks=1 on the current coordinator. */
  status(jobId: string): Promise<JobStatus>;
  /**
   * Polls the status until `ok` holds; a coordinator that does not answer (being restarted) is
   * asked again.
   */
  waitFor(
    jobId: string,
    what: string,
    ok: (s: JobStatus) => boolean,
    timeoutMs?: number,
  ): Promise<JobStatus>;
  /** Waits for a terminal state. */
  finished(jobId: string, timeoutMs?: number): Promise<JobStatus>;
  /** A whole fault-free run: submit, wait for success, read its part files. */
  run(params?: Record<string, ParamValue>): Promise<{ status: JobStatus; parts: Buffer[] }>;
  /** The part files of a published version, by partition. */
  parts(version: string, partitions?: number): Promise<Buffer[]>;
  /** worker id → its registration (pid, shuffle address). */
  registry(): Promise<Map<string, { id: string; pid: number; address: string }>>;
  /** The worker process that registered under this id. */
  workerService(workerId: string): Promise<Service>;
  /** Worker processes alive now. */
  liveWorkers(): Service[];
  /** Starts workers until `n` are alive. */
  ensureWorkers(n: number): Promise<void>;
  /** SIGKILL, and wait until the process is gone. */
  kill(service: Service): Promise<void>;
  /** The cluster's task queue (to pause and resume it). */
  queue(): Promise<Queue>;
  stop(): Promise<void>;
}

export interface FaultClusterOptions extends TestClusterOptions {
  events?: number;
  days?: number;
}

export async function startFaultCluster(options: FaultClusterOptions = {}): Promise<FaultCluster> {
  const { events = 24_000, days = 4, ...clusterOptions } = options;
  const cluster = await startCluster({
    workers: 3,
    splitTargetBytes: 512 * 1024,
    viewServer: false,
    speed: false,
    logLevel: 'info',
    ...clusterOptions,
    config: { lockDurationMs: 2000, heartbeatMs: 500, ...clusterOptions.config },
  });
  const closers: Array<() => Promise<unknown>> = [];
  try {
    await cluster.append(
      'pageviews',
      generatePageviews({ count: events, seed: 5, days }) as unknown as Iterable<
        Record<string, unknown>
      >,
      (e) => Date.parse(e.time as string),
    );
    const { bundle, spec: staticSpec } = await bundleJob(JOB_FILE);
    await uploadBundle(cluster.store, bundle);
    const client = () =>
      new CoordinatorClient({
        url: cluster.info.coordinatorUrl,
        token: cluster.info.token,
        timeoutMs: 5000,
      });
    const exited = new Set<Service>();
    const track = (s: Service) => void s.exited.then(() => exited.add(s));
    cluster.workers.forEach(track);
    let redis: Redis | undefined;
    let queue: Queue | undefined;

    const f: FaultCluster = {
      cluster,
      spec: (params = {}) => ({
        ...staticSpec,
        params: { ...staticSpec.params, ...params },
        codeHash: bundle.sha256,
      }),
      async submit(params = {}) {
        return (await client().submit(f.spec(params))).id;
      },
      status: (jobId) => client().job(jobId, { tasks: true }),
      async waitFor(jobId, what, ok, timeoutMs = 60_000) {
        const deadline = Date.now() + timeoutMs;
        let last: JobStatus | undefined;
        let lastError: unknown;
        while (Date.now() < deadline) {
          try {
            last = await f.status(jobId);
            if (ok(last)) return last;
            if (TERMINAL_STATES.includes(last.state) && !ok(last)) break;
          } catch (err) {
            lastError = err;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(
          `job ${jobId}: ${what} did not happen within ${timeoutMs} ms; last status: ${last ? describe(last) : String(lastError)}`,
        );
      },
      finished: (jobId, timeoutMs) =>
        f.waitFor(jobId, 'a terminal state', (s) => TERMINAL_STATES.includes(s.state), timeoutMs),
      async run(params = {}) {
        const id = await f.submit(params);
        const status = await f.finished(id);
        if (status.state !== 'succeeded')
          throw new Error(`the fault-free run failed: ${describe(status)}`);
        return { status, parts: await f.parts(status.version!, status.spec.partitions) };
      },
      async parts(version, partitions = staticSpec.partitions) {
        return Promise.all(
          Array.from({ length: partitions }, async (_, p) =>
            Buffer.from(await cluster.store.get(partKey(VIEW, version, p))),
          ),
        );
      },
      async registry() {
        redis ??= await connectRedis(cluster.info.redisUrl, {
          role: 'command',
          name: 'fault-test',
        });
        const all = await redis.hgetall(workersKey(cluster.info.redisPrefix));
        return new Map(
          Object.entries(all).map(([id, json]) => [
            id,
            JSON.parse(json) as { id: string; pid: number; address: string },
          ]),
        );
      },
      async workerService(workerId) {
        const info = (await f.registry()).get(workerId);
        const service = cluster.workers.find((w) => w.pid === info?.pid);
        if (!service)
          throw new Error(`no worker process of this cluster registered as ${workerId}`);
        return service;
      },
      liveWorkers: () => cluster.workers.filter((w) => !exited.has(w)),
      async ensureWorkers(n) {
        const missing = n - f.liveWorkers().length;
        const started = await Promise.all(
          Array.from({ length: Math.max(0, missing) }, () => cluster.addWorker()),
        );
        started.forEach(track);
      },
      async kill(service) {
        process.kill(service.pid, 'SIGKILL');
        await service.exited;
        exited.add(service);
      },
      async queue() {
        if (!queue) {
          const connection = await connectRedis(cluster.info.redisUrl, {
            role: 'queue',
            name: 'fault-test',
          });
          queue = new Queue(TASK_QUEUE, { connection, prefix: cluster.info.redisPrefix });
          queue.on('error', () => {}); // a Redis restart test makes it lose its connection for a while
          closers.push(async () => {
            await queue!.close();
            connection.disconnect();
          });
        }
        return queue;
      },
      async stop() {
        for (const close of closers.splice(0).reverse()) await close().catch(() => {});
        redis?.disconnect();
        await cluster.stop();
      },
    };
    return f;
  } catch (err) {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    await cluster.stop();
    throw err;
  }
}

/** One line per task: id, state, attempt, worker, error code: what a failed wait shows. */
export function describe(s: JobStatus): string {
  const tasks = (s.tasks ?? []).map(
    (t) =>
      `${t.taskId}:${t.state}#${t.attempt}@${t.worker ?? '-'}${t.error ? `!${t.error.code}` : ''}${t.stalls ? ` stalls=${t.stalls}` : ''}${t.backup ? ` backup=${t.backup.attempt}/${t.backup.state}@${t.backup.worker ?? '-'}` : ''}`,
  );
  return `${s.id} ${s.state}${s.error ? ` (${s.error.code}: ${s.error.message})` : ''}\n  ${tasks.join('\n  ')}`;
}

export function task(s: JobStatus, taskId: string): TaskStatus {
  const t = s.tasks?.find((x) => x.taskId === taskId);
  if (!t) throw new Error(`job ${s.id} has no task ${taskId}`);
  return t;
}

/** Seconds since `t0`, rounded to 0.1 s, for the recovery figures the tests print. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}
