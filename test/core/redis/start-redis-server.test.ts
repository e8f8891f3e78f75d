import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { probeRedis } from '../../../core/redis/redis-probe.ts';
import { startRedisServer } from '../../../core/redis/start-redis-server.ts';
import { startTestRedis } from '../../support/redis.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Running, that is: a zombie waiting for init to reap it counts as gone. */
function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !existsSync('/proc/self');
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe('startRedisServer', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('starts a redis-server on a free loopback port that answers PING, and stop() leaves no process behind', async () => {
    const redis = await startTestRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await probeRedis('127.0.0.1', redis.port, ['PING'], 1000)).toBe('PONG');
    const info = await probeRedis('127.0.0.1', redis.port, ['INFO', 'server'], 1000);
    expect(info).toContain(`process_id:${redis.pid}`);
    expect(isAlive(redis.pid)).toBe(true);
    expect(isAlive(redis.watchdogPid)).toBe(true);

    await redis.stop();
    await redis.stop(); // idempotent
    expect(isAlive(redis.pid)).toBe(false);
    await waitUntil(() => !isAlive(redis.watchdogPid), 2000);
    await expect(probeRedis('127.0.0.1', redis.port, ['PING'], 500)).rejects.toThrow();
    expect((await redis.exited).signal ?? (await redis.exited).code).toBeDefined();
  });

  it('two servers started at once get different ports', async () => {
    const [a, b] = await Promise.all([startTestRedis(), startTestRedis()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(await probeRedis('127.0.0.1', a.port, ['PING'], 1000)).toBe('PONG');
      expect(await probeRedis('127.0.0.1', b.port, ['PING'], 1000)).toBe('PONG');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('a taken fixed port fails with STRATA_E_REDIS_START_FAILED quoting redis-server, and leaves no process', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-redis-'));
    dirs.push(dir);
    try {
      const err = await startRedisServer({ dir, port }).catch((e: unknown) => e);
      expect(isStrataError(err, 'STRATA_E_REDIS_START_FAILED')).toBe(true);
      expect((err as Error).message).toContain(String(port));
      expect((err as Error).message).toMatch(/address already in use/i);
      expect(isAlive((err as { details: { pid: number } }).details.pid)).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('a SIGTERM to the parent still ends it (our handler keeps the default) and takes its redis-server along', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-redis-'));
    dirs.push(dir);
    const parent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/redis-parent.ts', import.meta.url)),
        dir,
      ],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      parent.once('exit', (_code, signal) => resolve(signal)),
    );
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: parent.stdout }).once('line', resolve),
    );
    const { pid } = JSON.parse(line) as { pid: number };
    parent.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    await waitUntil(() => !isAlive(pid), 3000);
  });

  it('the redis-server dies with its parent even when the parent is SIGKILLed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-redis-'));
    dirs.push(dir);
    const parent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/redis-parent.ts', import.meta.url)),
        dir,
      ],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout }).once('line', resolve);
      parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
    });
    const { pid, watchdogPid, port } = JSON.parse(line) as {
      pid: number;
      watchdogPid: number;
      port: number;
    };
    expect(await probeRedis('127.0.0.1', port, ['PING'], 1000)).toBe('PONG');

    parent.kill('SIGKILL');
    // No handler of the parent runs on SIGKILL: only the watchdog can do this.
    await waitUntil(() => !isAlive(pid) && !isAlive(watchdogPid), 3000);
  });
});
