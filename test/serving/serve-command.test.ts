/**
 * `strata serve` as a real child process: it loads the published views, prints one line with
 * its URL, answers reads, and exits 0 on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore } from '../../core/store/open-store.ts';
import { publishView } from '../cli/fixtures/publish-view.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-serve-cmd-'));
  const store = await openStore(`file://${path.join(dir, 'store')}`);
  await publishView(
    store,
    'hits',
    [
      [['/home', 1], 42],
      [['/about', 2], 7],
    ],
    { partitions: 2, version: 'v0000000000005-cmd' },
  );
  await store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('strata serve prints its URL once the views are loaded, answers GETs, and stops cleanly on SIGTERM', async () => {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: os.homedir(),
    STRATA_LOG_LEVEL: 'warn',
    STRATA_HOME: path.join(dir, 'home'),
  };
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--store', `file://${path.join(dir, 'store')}`],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await expect.poll(() => out, { timeout: 20_000, interval: 50 }).toMatch(/\n$/);
    expect(out, err).toMatch(/^serve listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    const url = out.trim().split(' ').at(-1)!;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${url}/v1/views/hits/get/%2Fhome/1`)).json()).toEqual({
      view: 'hits',
      version: 'v0000000000005-cmd',
      key: ['/home', 1],
      value: 42,
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});
