import { rm } from 'node:fs/promises';
import net from 'node:net';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { connectRedis } from '../../../core/redis/connect-redis.ts';
import { startRedisServer } from '../../../core/redis/start-redis-server.ts';
import { startTestRedis, type TestRedis } from '../../support/redis.ts';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('connectRedis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(() => redis?.stop());

  it('connects and names the connection after its role', async () => {
    const conn = await connectRedis(redis.url, { role: 'command', name: 'test' });
    try {
      expect(await conn.ping()).toBe('PONG');
      expect(await conn.client('GETNAME')).toBe('strata-test-command');
    } finally {
      conn.disconnect();
    }
  });

  it('an unreachable URL fails fast with STRATA_E_REDIS_UNAVAILABLE naming the URL and how to start Redis', async () => {
    const port = await closedPort();
    const url = `redis://127.0.0.1:${port}`;
    const started = Date.now();
    const err = await connectRedis(url, { role: 'queue' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(isStrataError(err, 'STRATA_E_REDIS_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toContain(`redis-server --port ${port}`);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect((err as { retryable: boolean }).retryable).toBe(true);
  });

  it('a host that never answers fails with STRATA_E_REDIS_UNAVAILABLE within the connect timeout', async () => {
    // A listener that accepts TCP but never speaks RESP, like a firewall that swallows packets.
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const err = await connectRedis(`redis://127.0.0.1:${port}`, {
        role: 'command',
        connectTimeoutMs: 300,
      }).catch((e: unknown) => e);
      expect(isStrataError(err, 'STRATA_E_REDIS_UNAVAILABLE')).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      silent.close();
    }
  });

  it('the password in a URL is never shown in the error', async () => {
    const port = await closedPort();
    const err = await connectRedis(`redis://:s3cret@127.0.0.1:${port}`, { role: 'command' }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_REDIS_UNAVAILABLE')).toBe(true);
    expect(JSON.stringify((err as { toJSON(): unknown }).toJSON())).not.toContain('s3cret');
  });

  it('a URL that is not redis:// is a STRATA_E_CONFIG error', async () => {
    const err = await connectRedis('http://127.0.0.1:6379', { role: 'command' }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_CONFIG')).toBe(true);
  });

  it('a queue connection drives a BullMQ queue and worker', async () => {
    const connection = await connectRedis(redis.url, { role: 'queue', name: 'test' });
    const name = `q-${Math.random().toString(36).slice(2)}`;
    const queue = new Queue(name, { connection });
    const worker = new Worker(name, async (job) => (job.data as { n: number }).n * 2, {
      connection,
    });
    try {
      const done = new Promise<unknown>((resolve, reject) => {
        worker.on('completed', (_job, result) => resolve(result));
        worker.on('failed', (_job, err) => reject(err));
      });
      await queue.add('double', { n: 21 });
      expect(await done).toBe(42);
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });

  it('once connected, a command connection survives a Redis restart on the same port', async () => {
    const own = await startTestRedis();
    const conn = await connectRedis(own.url, { role: 'command' });
    try {
      await conn.set('k', 'before');
      await own.stop();
      const again = await startRedisServer({ dir: own.dir, port: own.port });
      try {
        await expect
          .poll(() => conn.ping().catch(() => 'down'), { timeout: 5000, interval: 100 })
          .toBe('PONG');
        expect(await conn.get('k')).toBeNull(); // a new, empty server: no snapshot was saved
      } finally {
        await again.stop();
        await rm(own.dir, { recursive: true, force: true });
      }
    } finally {
      conn.disconnect();
    }
  });
});
