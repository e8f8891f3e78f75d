/**
 * A worker's housekeeping: settings fall back to the local cluster file, one process per work
 * folder, and map outputs are deleted once their job is over (or unknown, or old).
 */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClusterFile } from '../../core/cluster-file.ts';
import { loadConfig } from '../../core/config.ts';
import { isStrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { attemptDir, mapOutputPath, outputsDir } from '../../worker/map-outputs.ts';
import { startOutputSweeper } from '../../worker/output-sweeper.ts';
import { lockWorkDir } from '../../worker/work-dir-lock.ts';
import { workerSettings } from '../../worker/worker-settings.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

let dir: string;
let redis: TestRedis;
let command: Redis;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-housekeeping-'));
  redis = await startTestRedis();
  command = await connectRedis(redis.url, { role: 'command' });
});
afterAll(async () => {
  await command?.quit();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('worker settings', () => {
  it('take the Redis URL, token, prefix and store from <home>/cluster.json when the config leaves them empty', async () => {
    const home = path.join(dir, 'home-a');
    await writeClusterFile(home, {
      redisUrl: 'redis://127.0.0.1:1234',
      redisPrefix: 'devpfx',
      token: 'tok',
      coordinatorUrl: 'http://127.0.0.1:1',
      store: 'file:///data/store',
      pids: {},
    });
    const s = await workerSettings(
      loadConfig({ env: { STRATA_HOME: home, STRATA_WORKER_THREADS: '3' }, cwd: dir }),
    );
    expect(s).toMatchObject({
      redisUrl: 'redis://127.0.0.1:1234',
      redisPrefix: 'devpfx',
      token: 'tok',
      store: 'file:///data/store',
      threads: 3,
    });
    expect(s.workDir).toBe(path.join(home, 'work', s.id));
    const explicit = await workerSettings(
      loadConfig({
        env: {
          STRATA_HOME: home,
          STRATA_REDIS_URL: 'redis://h:1',
          STRATA_REDIS_PREFIX: 'mine',
          STRATA_TOKEN: 'x',
          STRATA_WORK_DIR: 'w',
        },
        cwd: dir,
      }),
    );
    expect(explicit).toMatchObject({
      redisUrl: 'redis://h:1',
      redisPrefix: 'mine',
      token: 'x',
      workDir: path.join(dir, 'w'),
    });
    expect(explicit.threads).toBe(os.availableParallelism());
  });

  it('without a Redis URL or token anywhere, fail with STRATA_E_CONFIG naming both variables', async () => {
    const err = await workerSettings(
      loadConfig({ env: { STRATA_HOME: path.join(dir, 'home-empty') }, cwd: dir }),
    ).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/STRATA_REDIS_URL.*STRATA_TOKEN.*strata dev/s);
  });

  it('advertise the bind host for shuffle, a configured advertise host when set, and refuse a wildcard bind without one', async () => {
    const base = {
      STRATA_HOME: path.join(dir, 'home-adv'),
      STRATA_REDIS_URL: 'redis://h:1',
      STRATA_TOKEN: 'x',
    };
    expect((await workerSettings(loadConfig({ env: base, cwd: dir }))).shuffleAdvertiseHost).toBe(
      '127.0.0.1',
    );
    const named = await workerSettings(
      loadConfig({
        env: {
          ...base,
          STRATA_SHUFFLE_HOST: '0.0.0.0',
          STRATA_SHUFFLE_ADVERTISE_HOST: 'worker-7.internal',
        },
        cwd: dir,
      }),
    );
    expect([named.shuffleHost, named.shuffleAdvertiseHost]).toEqual([
      '0.0.0.0',
      'worker-7.internal',
    ]);
    const err = await workerSettings(
      loadConfig({ env: { ...base, STRATA_SHUFFLE_HOST: '0.0.0.0' }, cwd: dir }),
    ).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('set STRATA_SHUFFLE_ADVERTISE_HOST');
  });
});

describe('work folder lock', () => {
  it('lets one live process hold a work folder and takes over the lock of a dead one', async () => {
    const work = path.join(dir, 'work-lock');
    const lock = await lockWorkDir(work);
    await lock.release();
    const again = await lockWorkDir(work);
    await again.release();
    // A lock left by a process that no longer runs is taken over.
    await mkdir(work, { recursive: true });
    await writeFile(path.join(work, 'worker.pid'), '999999999');
    await (await lockWorkDir(work)).release();
    // A live holder (the parent of this test process) is refused.
    await writeFile(path.join(work, 'worker.pid'), String(process.ppid));
    const err = await lockWorkDir(work).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(`pid ${process.ppid}`);
  });
});

describe('map output paths', () => {
  it('accept <jobId>/<taskId>-a<attempt> and refuse anything that could leave the outputs folder', () => {
    expect(mapOutputPath('/w', 'j1/m-3-a1')).toBe('/w/outputs/j1/m-3-a1/output.run');
    for (const bad of [
      '../x/m-1-a1',
      'j1/..',
      'j1/../../etc',
      'j1',
      'a/b/c',
      '/abs/m',
      'j1/.hidden',
      '',
    ])
      expect(attemptDir('/w', bad), bad).toBeUndefined();
  });
});

describe('output sweeper', () => {
  it('deletes outputs of finished and unknown jobs and old ones, and keeps running or busy jobs', async () => {
    const workDir = path.join(dir, 'sweep');
    const prefix = 'sw';
    const make = async (jobId: string, ageMs = 0) => {
      const d = path.join(outputsDir(workDir), jobId);
      await mkdir(path.join(d, 'm-0-a1'), { recursive: true });
      const when = new Date(Date.now() - ageMs);
      await utimes(d, when, when);
    };
    await command.hset(`${prefix}:job:done`, 'state', 'succeeded');
    await command.hset(`${prefix}:job:cancelled`, 'state', 'cancelled');
    await command.hset(`${prefix}:job:running`, 'state', 'reducing');
    await command.hset(`${prefix}:job:old`, 'state', 'mapping');
    await command.hset(`${prefix}:job:busy`, 'state', 'failed');
    await make('done');
    await make('cancelled');
    await make('running');
    await make('busy');
    await make('old', 25 * 3600_000);
    await make('unknown-new');
    await make('unknown-old', 11 * 60_000);
    const sweeper = startOutputSweeper({
      workDir,
      redis: command,
      prefix,
      isBusy: (id) => id === 'busy',
      intervalMs: 60_000,
    });
    const removed = await sweeper.sweep();
    sweeper.stop();
    expect(removed.sort()).toEqual(['cancelled', 'done', 'old', 'unknown-old']);
    expect((await readdir(outputsDir(workDir))).sort()).toEqual(['busy', 'running', 'unknown-new']);
  });
});
