/**
 * Starts a coordinator: Redis connections, the task queue, the scheduler (which picks up any
 * job a previous coordinator left unfinished) and the HTTP API.
 *
 *   const coordinator = await startCoordinator(loadConfig({ overrides: { coordinatorPort: 0 } }));
 *   coordinator.url    // 'http://127.0.0.1:41234'
 *   await coordinator.stop();
 *
 * Redis unreachable is STRATA_E_REDIS_UNAVAILABLE at once; a missing Redis URL or token is
 * STRATA_E_CONFIG (the API runs code on the cluster: it never runs without a token).
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StrataConfig } from '../core/config.ts';
import { StrataError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { connectRedis } from '../core/redis/connect-redis.ts';
import { openStoreFromConfig } from '../core/store/open-store.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { TASK_QUEUE } from '../core/tasks/task-payload.ts';
import { CoordinatorMetrics } from './coordinator-metrics.ts';
import { buildHttpApi } from './http-api.ts';
import { CommitLog } from '../speed/commit-log.ts';
import { JobService } from './job-service.ts';
import { RealtimeBatches } from './realtime-batches.ts';
import { Scheduler } from './schedule/scheduler.ts';
import { speculationSettings } from './schedule/speculation.ts';
import { TaskQueue } from './schedule/task-queue.ts';
import type { JobState } from './state/job-state.ts';
import { JobStore } from './state/job-store.ts';

export interface StartCoordinatorOptions {
  log?: Logger;
  /**
   * Milliseconds between reconciliations with BullMQ. Default: a quarter of lockDurationMs, 0.5–5
   * s.
   */
  pollMs?: number;
}

export interface RunningCoordinator {
  /** Where the API listens, e.g. http://127.0.0.1:7070. */
  url: string;
  /**
   * Stops serving and scheduling; closes every connection. Jobs stay in Redis for the next start.
   */
  stop(): Promise<void>;
}

export async function startCoordinator(
  config: StrataConfig,
  options: StartCoordinatorOptions = {},
): Promise<RunningCoordinator> {
  if (!config.redisUrl)
    throw new StrataError(
      'STRATA_E_CONFIG',
      'the coordinator needs a Redis URL: pass --redis redis://host:port or set STRATA_REDIS_URL (strata dev does this for you)',
    );
  if (!config.token)
    throw new StrataError(
      'STRATA_E_CONFIG',
      'the coordinator needs a token for its API: pass --token or set STRATA_TOKEN (strata dev generates one)',
    );
  const log = (options.log ?? createLogger(config)).child({ component: 'coordinator' });
  const closers: Array<() => Promise<unknown> | void> = [];
  const closeAll = async () => {
    for (const close of closers.reverse())
      await Promise.resolve(close()).catch((err: unknown) => log.warn({ err }, 'closing failed'));
    closers.length = 0;
  };
  try {
    const connect = async (role: 'command' | 'queue'): Promise<Redis> => {
      const conn = await connectRedis(config.redisUrl, { role, name: 'coordinator', log });
      closers.push(() => conn.disconnect());
      return conn;
    };
    const redis = await connect('command');
    const queueConnection = await connect('queue');
    const eventsConnection = await connect('queue');
    const store: ObjectStore = await openStoreFromConfig(config);
    closers.push(() => store.close());

    const prefix = config.redisPrefix;
    const jobs = new JobStore(redis, prefix);
    const queue = new Queue(TASK_QUEUE, { connection: queueConnection, prefix });
    queue.on('error', (err) => log.warn({ err }, 'task queue error'));
    closers.push(() => queue.close());
    const events = new QueueEvents(TASK_QUEUE, { connection: eventsConnection, prefix });
    events.on('error', (err) => log.warn({ err }, 'queue events error'));
    closers.push(() => events.close());

    const metrics = new CoordinatorMetrics(() => liveStates(jobs));
    const scheduler = new Scheduler({
      jobs,
      tasks: new TaskQueue(queue),
      store,
      redis,
      prefix,
      taskAttempts: config.taskAttempts,
      pollMs:
        options.pollMs ?? Math.min(5000, Math.max(500, Math.round(config.lockDurationMs / 4))),
      log,
      metrics,
      speculation: speculationSettings(config),
      versionsKept: config.viewVersionsKept,
    });
    await scheduler.start(events);
    closers.push(() => scheduler.stop());

    const service = new JobService({
      jobs,
      scheduler,
      store,
      splitTargetBytes: config.splitTargetBytes,
      metrics,
    });
    const sealer = new CommitLog(redis, { prefix, bucketMs: config.speedBucketMs });
    const realtime = new RealtimeBatches({
      redis,
      prefix,
      store,
      service,
      sealer,
      log,
      versionsKept: config.viewVersionsKept + 1,
    });
    realtime.start();
    closers.push(() => realtime.stop());
    const app = buildHttpApi({
      service,
      realtime,
      token: config.token,
      metrics,
      log,
      ready: async () => (await redis.ping()) === 'PONG',
    });
    await app.listen({ host: config.coordinatorHost, port: config.coordinatorPort });
    closers.push(() => app.close());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.coordinatorPort;
    const host = config.coordinatorHost.includes(':')
      ? `[${config.coordinatorHost}]`
      : config.coordinatorHost;
    const url = `http://${host}:${port}`;
    log.info({ url, prefix, store: store.url }, 'coordinator listening');

    let stopping: Promise<void> | undefined;
    return { url, stop: () => (stopping ??= closeAll()) };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function liveStates(jobs: JobStore): Promise<JobState[]> {
  const states: JobState[] = [];
  for (const id of await jobs.liveJobIds()) {
    const job = await jobs.getJob(id);
    if (job) states.push(job.state);
  }
  return states;
}
