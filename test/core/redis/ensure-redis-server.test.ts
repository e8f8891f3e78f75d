import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { ensureRedisServer } from '../../../core/redis/ensure-redis-server.ts';
import { withInstallLock } from '../../../core/redis/install-lock.ts';

describe('ensureRedisServer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-ensure-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('returns the path of a redis-server that runs', async () => {
    const bin = await ensureRedisServer();
    expect(path.basename(bin)).toBe('redis-server');
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' })).toMatch(/^Redis server v=\d+\./);
  });

  it('when redis-server is missing and installing is not allowed, fails with STRATA_E_DEPENDENCY_MISSING saying what to install', async () => {
    const err = await ensureRedisServer({ searchPath: dir, install: false }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_DEPENDENCY_MISSING')).toBe(true);
    expect((err as Error).message).toMatch(
      /apt-get install redis-server|brew install redis|package manager/,
    );
    expect((err as { details: { searched: string[] } }).details.searched).toEqual([dir]);
  });

  it('finds redis-server in any folder of the search path', async () => {
    const fake = path.join(dir, 'redis-server');
    await writeFile(fake, '#!/bin/sh\n', { mode: 0o755 });
    expect(
      await ensureRedisServer({
        searchPath: `/nonexistent${path.delimiter}${dir}`,
        install: false,
      }),
    ).toBe(fake);
  });
});

describe('withInstallLock', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-lock-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('two installers never run at the same time', async () => {
    const lock = path.join(dir, 'a.lock');
    const events: string[] = [];
    const install = (name: string) => async () => {
      events.push(`${name}:start`);
      await new Promise((r) => setTimeout(r, 100));
      events.push(`${name}:end`);
    };
    await Promise.all([
      withInstallLock(lock, install('a'), { pollMs: 10 }),
      withInstallLock(lock, install('b'), { pollMs: 10 }),
    ]);
    expect(events).toHaveLength(4);
    expect(events[0]!.split(':')[0]).toBe(events[1]!.split(':')[0]);
    expect(events[2]!.split(':')[0]).toBe(events[3]!.split(':')[0]);
  });

  it('a lock left behind by a dead process is taken over', async () => {
    const lock = path.join(dir, 'b.lock');
    // A pid far above any real one: its owner cannot be alive.
    await writeFile(lock, '2147483646\nstale\n');
    expect(await withInstallLock(lock, async () => 'ran', { timeoutMs: 1000 })).toBe('ran');
  });

  it('a lock held by a live process makes a waiter give up with STRATA_E_DEPENDENCY_MISSING naming the lock', async () => {
    const lock = path.join(dir, 'c.lock');
    await writeFile(lock, `${process.pid}\nheld\n`);
    const err = await withInstallLock(lock, async () => 'ran', {
      timeoutMs: 200,
      pollMs: 20,
    }).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_DEPENDENCY_MISSING')).toBe(true);
    expect((err as Error).message).toContain(lock);
  });
});
