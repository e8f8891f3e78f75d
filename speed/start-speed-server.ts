/**
 * Starts the speed layer's ingest API: takes the speed lease, finishes the commits a previous
 * process left in flight, then listens. Records it acknowledges are durable in the master dataset
 * and were handed to `onCommitted` (the realtime fold).
 *
 *   const server = await startSpeedServer(loadConfig({ overrides: { speedPort: 0 } }), { onCommitted, log });
 *   server.url;        // http://127.0.0.1:41234
 *   server.lost;       // resolves if the lease is lost (the server then refuses ingests)
 *   await server.close();
 *
 * Needs Redis (config.redisUrl) and a token (config.token): the API writes to the master dataset.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { StrataConfig } from '../core/config.ts';
import { StrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { connectRedis } from '../core/redis/connect-redis.ts';
import { openStoreFromConfig } from '../core/store/open-store.ts';
import type { ObjectStore } from '../core/store/store.ts';
import type { CommitHook } from './commit-hook.ts';
import { CommitLog, type CommitRecord } from './commit-log.ts';
import { GroupCommitter } from './group-commit.ts';
import { defaultParseThreads, RecordParser } from './record-parser.ts';
import { buildSpeedApi } from './speed-api.ts';
import { acquireSpeedLease, type SpeedLease } from './speed-leader.ts';
import { SpeedMetrics } from './speed-metrics.ts';
import { recoverCommit, recoverInflight, type RecoverySummary } from './speed-recovery.ts';

export interface SpeedServerOptions {
  onCommitted?: CommitHook | undefined;
  log?: Logger;
  /** Override config.speedHost / speedPort. */
  host?: string;
  port?: number;
  /** A store already open (tests); otherwise opened from the config and closed by close(). */
  store?: ObjectStore;
  /** Lease time to live (ms). Default 10 000. */
  leaseTtlMs?: number;
  /** Override config.speedParseThreads (0: parse on the main thread). */
  parseThreads?: number;
}

export interface SpeedServer {
  url: string;
  port: number;
  metrics: SpeedMetrics;
  /** What recovery at start settled. */
  recovered: RecoverySummary;
  /** Resolves with the reason if the speed lease is lost; the server then answers 503. */
  lost: Promise<StrataError>;
  close(): Promise<void>;
}

/** Records queued per dataset beyond which requests are refused (503) until commits catch up. */
const QUEUE_LIMIT_COMMITS = 4;
const REPAIR_FIRST_MS = 1000;
const REPAIR_MAX_MS = 30_000;

export async function startSpeedServer(
  config: StrataConfig,
  opts: SpeedServerOptions = {},
): Promise<SpeedServer> {
  const log = opts.log;
  if (!config.redisUrl)
    throw new StrataError(
      'STRATA_E_CONFIG',
      'strata speed needs Redis: set STRATA_REDIS_URL (or --redis), or run it inside a cluster started with strata dev',
    );
  if (!config.token)
    throw new StrataError(
      'STRATA_E_CONFIG',
      'strata speed needs a token, as its API writes to the master dataset: set STRATA_TOKEN (strata dev makes one and writes it to .strata/cluster.json)',
    );

  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((err: unknown) => log?.warn({ err }, 'speed server cleanup step failed'));
    cleanups.length = 0;
  };
  try {
    const redis: Redis = await connectRedis(config.redisUrl, {
      role: 'command',
      name: 'speed',
      ...(log ? { log } : {}),
    });
    cleanups.push(async () => redis.disconnect());
    const store = opts.store ?? (await openStoreFromConfig(config));
    if (!opts.store) cleanups.push(() => store.close());
    const lease: SpeedLease = await acquireSpeedLease(redis, config.redisPrefix, {
      ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}),
      ...(log ? { log } : {}),
    });
    cleanups.push(() => lease.release());
    const commitLog = new CommitLog(redis, {
      prefix: config.redisPrefix,
      bucketMs: config.speedBucketMs,
    });
    const metrics = new SpeedMetrics();
    const parser = await RecordParser.start({
      threads: opts.parseThreads ?? defaultParseThreads(config.speedParseThreads),
    });
    cleanups.push(() => parser.close());

    // Before anything is accepted: finish or drop what a previous process left in flight.
    const recovered = await recoverInflight({
      commitLog,
      store,
      onCommitted: opts.onCommitted,
      log,
    });
    for (const _ of recovered.folded) metrics.recovered.inc({ outcome: 'folded' });
    for (const _ of recovered.dropped) metrics.recovered.inc({ outcome: 'dropped' });

    let lostReason: StrataError | undefined;
    let stopping = false;
    const stopRepairs = new AbortController();
    const repairs = new Set<Promise<void>>();
    const repair = (record: CommitRecord) => {
      const deps = {
        commitLog,
        store,
        onCommitted: opts.onCommitted,
        log,
        metrics,
        signal: stopRepairs.signal,
      };
      const run = repairLoop(record, deps, (fn) => committerOf(record.dataset).exclusive(fn));
      repairs.add(run);
      void run.finally(() => repairs.delete(run));
    };
    const committers = new Map<string, GroupCommitter>();
    const committerOf = (dataset: string) => {
      let c = committers.get(dataset);
      if (!c) {
        c = new GroupCommitter({
          dataset,
          store,
          commitLog,
          leaderToken: lease.token,
          lingerMs: config.speedLingerMs,
          maxRecords: config.speedMaxCommitRecords,
          blockTargetBytes: config.blockTargetBytes,
          onCommitted: opts.onCommitted,
          onUnfinished: repair,
          metrics,
          ...(log ? { log: log.child({ dataset }) } : {}),
        });
        committers.set(dataset, c);
      }
      return c;
    };

    const app = buildSpeedApi({
      token: config.token,
      bodyLimit: config.speedBodyLimitBytes,
      metrics,
      ...(log ? { log } : {}),
      ready: () => !stopping && lostReason === undefined,
      parse: (body, format, options) => parser.parse(body, format, options),
      ingest: (dataset, batch) => {
        if (lostReason) throw lostReason;
        if (stopping)
          throw new StrataError(
            'STRATA_E_SPEED_UNAVAILABLE',
            'the speed layer is stopping; send the records again to the next one',
          );
        const committer = committerOf(dataset);
        if (committer.queuedRecords > QUEUE_LIMIT_COMMITS * config.speedMaxCommitRecords) {
          throw new StrataError(
            'STRATA_E_SPEED_UNAVAILABLE',
            `the speed layer is behind: ${committer.queuedRecords} records of ${dataset} wait for their commit; send this batch again in a moment`,
            { details: { dataset, queued: committer.queuedRecords } },
          );
        }
        return committer.submit(batch);
      },
    });

    const lost = lease.lost.then((reason) => {
      lostReason = reason;
      stopRepairs.abort();
      log?.error({ err: reason }, 'lost the speed lease; refusing ingests');
      for (const c of committers.values()) c.failQueued(reason);
      return reason;
    });

    const host = opts.host ?? config.speedHost;
    await app.listen({ host, port: opts.port ?? config.speedPort });
    const address = app.server.address();
    const port =
      typeof address === 'object' && address ? address.port : (opts.port ?? config.speedPort);
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      port,
      metrics,
      recovered,
      lost,
      close: () =>
        (closing ??= (async () => {
          stopping = true;
          stopRepairs.abort();
          // Requests in flight finish first (their groups commit), then the queues drain.
          await app.close();
          await Promise.all([...committers.values()].map((c) => c.close()));
          await Promise.allSettled([...repairs]);
          await cleanup();
        })()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Retries recovery of a commit whose group failed after begin, with backoff, until settled or
 * stopped.
 */
async function repairLoop(
  record: CommitRecord,
  deps: Parameters<typeof recoverCommit>[1] & { metrics: SpeedMetrics; signal: AbortSignal },
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<void> {
  for (let wait = REPAIR_FIRST_MS; ; wait = Math.min(wait * 2, REPAIR_MAX_MS)) {
    // Stopped: the commit stays in flight and the next start recovers it.
    if (!(await sleep(wait, true, { signal: deps.signal }).catch(() => false))) return;
    try {
      const outcome = await exclusive(() => recoverCommit(record, deps));
      deps.metrics.recovered.inc({ outcome });
      return;
    } catch (err) {
      deps.log?.warn(
        { err, dataset: record.dataset, commitId: record.id, retryInMs: wait * 2 },
        'could not settle a failed speed commit yet; retrying',
      );
    }
  }
}
