/**
 * A private redis-server for one test file, in its own temporary folder.
 *
 *   const redis = await startTestRedis();
 *   afterAll(() => redis.stop());
 *   const conn = await connectRedis(redis.url, { role: 'command' });
 *
 * stop() stops the server and removes the folder. Give each test its own key prefix or queue
 * name; the server is shared by the tests of the file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedisServer, type RedisServer } from '../../core/redis/start-redis-server.ts';

export interface TestRedis extends RedisServer {
  dir: string;
}

export async function startTestRedis(opts: { appendonly?: boolean; port?: number } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-redis-'));
  let server: RedisServer;
  try {
    server = await startRedisServer({ dir, ...opts });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    dir,
    stop: async (graceMs?: number) => {
      await server.stop(graceMs);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
