/**
 * A worker's presence in Redis, so the coordinator knows who serves which map outputs and who
 * has died (key names in core/redis/cluster-keys.ts, batch design "Redis conventions"):
 *
 *   HSET P:workers <id> {"id","address","host","pid","threads","started"}
 *   SET  P:worker:<id>:alive 1 PX <3 × heartbeatMs>        renewed every heartbeatMs
 *
 *   const presence = await registerWorker(redis, { prefix, heartbeatMs, info, log });
 *   await presence.stop();    // the alive key goes at once: our map outputs are gone with us
 *
 * A worker that stops keeps its P:workers entry (registered but not alive is how the coordinator
 * tells "its outputs are lost" from "never heard of it"). A failed beat is logged, not fatal:
 * Redis may come back before the key expires.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../core/log.ts';
import { workerAliveKey, workersKey } from '../core/redis/cluster-keys.ts';

export interface WorkerInfo {
  id: string;
  /** host:port of the worker's shuffle server. */
  address: string;
  host: string;
  pid: number;
  threads: number;
  /** ms since the epoch. */
  started: number;
}

export interface RegisterWorkerOptions {
  prefix: string;
  heartbeatMs: number;
  info: WorkerInfo;
  log?: Logger;
}

export interface WorkerPresence {
  stop(): Promise<void>;
}

export async function registerWorker(
  redis: Redis,
  opts: RegisterWorkerOptions,
): Promise<WorkerPresence> {
  const { prefix, heartbeatMs, info } = opts;
  const beat = () =>
    redis
      .multi()
      .hset(workersKey(prefix), info.id, JSON.stringify(info))
      .set(workerAliveKey(prefix, info.id), '1', 'PX', 3 * heartbeatMs)
      .exec();
  await beat();
  let stopped = false;
  const timer = setInterval(() => {
    beat().catch((err: unknown) => {
      if (!stopped) opts.log?.warn({ err }, 'worker heartbeat failed; retrying at the next beat');
    });
  }, heartbeatMs);
  timer.unref();
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await redis
        .del(workerAliveKey(prefix, info.id))
        .catch((err: unknown) =>
          opts.log?.warn({ err }, 'could not remove the worker alive key; it expires by itself'),
        );
    },
  };
}
