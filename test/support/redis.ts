/**
 * A private redis-server for one test file, in its own temporary folder.
 *
 *   const redis = await startTestRedis();
 *   afterAll(() => redis.stop());
 *   const conn = await connectRedis(redis.url, { role: 'command' });
 *
 * stop() stops the server and removes the folder. Give each test its own key prefix or queue
 * name; the server is shared by the tests of the file.
 *
 * Crash tests: `startTestRedis({ appendonly: true, appendfsync: 'everysec' })`, then `kill()`
 * (SIGKILL: only what the AOF already holds survives) and `restart()` (same port and folder, so
 * clients reconnect to the same URL and Redis replays its AOF).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import {
  startRedisServer,
  type RedisServer,
  type StartRedisServerOptions,
} from '../../core/redis/start-redis-server.ts';

export interface TestRedis extends RedisServer {
  dir: string;
  /** SIGKILLs redis-server and waits for it to be gone. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port and folder; `pid` then names the new process. */
  restart(): Promise<void>;
}

export async function startTestRedis(
  opts: Pick<StartRedisServerOptions, 'appendonly' | 'appendfsync' | 'port'> = {},
): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-redis-'));
  let server: RedisServer;
  try {
    server = await startRedisServer({ dir, ...opts });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: server.url,
    port: server.port,
    dir,
    get pid() {
      return server.pid;
    },
    get watchdogPid() {
      return server.watchdogPid;
    },
    get exited() {
      return server.exited;
    },
    async kill() {
      process.kill(server.pid, 'SIGKILL');
      await server.exited;
      await server.stop(); // releases the watchdog
    },
    async restart() {
      server = await startRedisServer({ dir, ...opts, port: server.port });
    },
    stop: async (graceMs?: number) => {
      await server.stop(graceMs);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A redis-server and one command connection for the whole test file (started in beforeAll,
 * stopped in afterAll): `const r = useTestRedis(); … r.redis.get(…)`.
 */
export function useTestRedis(): { readonly server: TestRedis; readonly redis: Redis } {
  let server: TestRedis | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = await connectRedis(server.url, { role: 'command' });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get redis() {
      return redis!;
    },
  };
}
