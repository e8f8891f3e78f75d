/**
 * What the coordinator knows of the workers: their registrations and heartbeats in Redis
 * (worker/worker-registry.ts writes them; key names in core/redis/cluster-keys.ts).
 *
 *   await workerIsGone(redis, prefix, 'host-1234-ab12')   // registered, but its heartbeat key expired
 *   await aliveWorkers(redis, prefix)                     // ids of the workers heartbeating now
 *
 * "Gone" needs both: a worker we never heard of is not presumed dead (it may predate the
 * registry, or be a test's stand-in), while one that registered and stopped beating has lost its
 * local disk as far as anyone can tell, and with it every map output it served.
 */
import type { Redis } from 'ioredis';
import { workerAliveKey, workersKey } from '../../core/redis/cluster-keys.ts';

export async function workerIsGone(
  redis: Redis,
  prefix: string,
  workerId: string,
): Promise<boolean> {
  const [registered, alive] = await Promise.all([
    redis.hexists(workersKey(prefix), workerId),
    redis.exists(workerAliveKey(prefix, workerId)),
  ]);
  return registered === 1 && alive === 0;
}

export async function aliveWorkers(redis: Redis, prefix: string): Promise<string[]> {
  const ids = await redis.hkeys(workersKey(prefix));
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.exists(workerAliveKey(prefix, id));
  const replies = (await pipeline.exec()) ?? [];
  return ids.filter((_, i) => replies[i]?.[1] === 1);
}
