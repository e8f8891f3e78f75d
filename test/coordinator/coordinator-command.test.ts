/**
 * `strata coordinator` as a real child process: it fills empty settings from cluster.json,
 * prints one line with its URL, serves, and exits 0 on SIGTERM; an unreachable Redis is a clear
 * STRATA_E_REDIS_UNAVAILABLE and a non-zero exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterFilePath, readClusterFile, writeClusterFile } from '../../core/cluster-file.ts';
import { isStrataError } from '../../core/errors.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { api, randomPrefix } from './coordinator-fixture.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');

let redis: TestRedis;
let home: string;
beforeAll(async () => {
  redis = await startTestRedis();
  home = await mkdtemp(path.join(os.tmpdir(), 'strata-coord-cmd-'));
});
afterAll(async () => {
  await redis?.stop();
  await rm(home, { recursive: true, force: true });
});

function run(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), STRATA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

describe('cluster.json', () => {
  it('round-trips, is private to its owner, is absent as undefined and malformed as STRATA_E_CONFIG', async () => {
    const dir = path.join(home, 'cf');
    expect(await readClusterFile(dir)).toBeUndefined();
    const info = {
      redisUrl: 'redis://127.0.0.1:1',
      redisPrefix: 'p',
      token: 't',
      coordinatorUrl: 'http://127.0.0.1:2',
      store: 'file:///s',
      pids: { redis: 12 },
    };
    await writeClusterFile(dir, info);
    expect(await readClusterFile(dir)).toEqual(info);
    expect((await stat(clusterFilePath(dir))).mode & 0o777).toBe(0o600);
    await writeFile(clusterFilePath(dir), '{"redisUrl": 3}');
    const err = await readClusterFile(dir).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('redisUrl');
  });
});

describe('strata coordinator', () => {
  it('takes Redis, token and store from cluster.json, prints its URL, serves, and stops cleanly on SIGTERM', async () => {
    const prefix = randomPrefix();
    await writeClusterFile(home, {
      redisUrl: redis.url,
      redisPrefix: prefix,
      token: 'from-cluster',
      coordinatorUrl: '',
      store: `file://${path.join(home, 'store')}`,
      pids: {},
    });
    const p = run(['coordinator', '--port', '0'], { STRATA_HOME: home });
    try {
      await expect.poll(() => p.out(), { timeout: 20_000, interval: 50 }).toMatch(/\n$/);
      expect(p.out(), p.err()).toMatch(/^coordinator listening on http:\/\/127\.0\.0\.1:\d+\n$/);
      const url = p.out().trim().split(' ').at(-1)!;
      expect((await api(url, 'GET', '/healthz', undefined, null)).status).toBe(200);
      expect((await api(url, 'GET', '/v1/jobs', undefined, 'from-cluster')).json).toEqual({
        jobs: [],
      });
      expect((await api(url, 'GET', '/v1/jobs', undefined, 'other')).status).toBe(401);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('an unreachable Redis is STRATA_E_REDIS_UNAVAILABLE and a non-zero exit', async () => {
    const p = run(
      ['coordinator', '--redis', 'redis://127.0.0.1:1', '--token', 't', '--port', '0'],
      { STRATA_HOME: path.join(home, 'none') },
    );
    expect(await p.exited).toBe(1);
    expect(p.err()).toContain('STRATA_E_REDIS_UNAVAILABLE');
    expect(p.err()).toContain('redis://127.0.0.1:1');
    expect(p.out()).toBe('');
  });
});
