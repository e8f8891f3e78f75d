/**
 * `strata views rollback` end to end across a fleet: two `strata serve` processes over one store
 * and one Redis follow the real CLI's announcement, and both answer from the older version.
 * Polling of _CURRENT is switched off (an hour), so the announcement alone must move them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeClusterFile } from '../../core/cluster-file.ts';
import { openStore } from '../../core/store/open-store.ts';
import { publishView, type Row } from '../cli/fixtures/publish-view.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
const PREFIX = `rb2s${process.pid}`;
const OLD = 'v0000000000001-good';
const NEW = 'v0000000000002-double';
const KEYS = 500;
/** Every value of the new version is twice the old one: an answer from the wrong version shows. */
const rows = (factor: number): Row[] =>
  Array.from({ length: KEYS }, (_, i) => [[`/page/${i % 50}`, i], i * factor]);
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);

let dir: string;
let storeUrl: string;
let redis: TestRedis;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-rollback-fleet-'));
  storeUrl = `file://${path.join(dir, 'store')}`;
  redis = await startTestRedis();
  const store = await openStore(storeUrl);
  try {
    await publishView(store, 'pageviews', rows(1), { partitions: 3, version: OLD });
    await publishView(store, 'pageviews', rows(2), { partitions: 3, version: NEW });
  } finally {
    await store.close();
  }
  // What `strata dev` leaves behind: the CLI finds the store and the cluster's Redis through it.
  await writeClusterFile(path.join(dir, 'cli', '.strata'), {
    redisUrl: redis.url,
    redisPrefix: PREFIX,
    token: 't',
    coordinatorUrl: 'http://127.0.0.1:9',
    store: storeUrl,
    pids: {},
  });
});
afterAll(async () => {
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface ServeChild {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

async function startServe(name: string): Promise<ServeChild> {
  const env = {
    ...baseEnv,
    STRATA_HOME: path.join(dir, name),
    STRATA_REDIS_PREFIX: PREFIX,
    STRATA_SERVE_POLL_MS: '3600000',
    STRATA_LOG_LEVEL: 'warn',
  };
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--store', storeUrl, '--redis', redis.url, '--port', '0'],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`strata serve (${name}) printed no URL in 30 s; stderr: ${err}`)),
      30_000,
    );
    child.stdout!.on('data', () => {
      const m = /listening on (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strata serve (${name}) exited (${code}) before listening; stderr: ${err}`));
    });
  });
  return { child, url, stderr: () => err };
}

async function stopServe(s: ServeChild | undefined): Promise<number | null> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null)
    return s?.child.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) =>
    s.child.once('exit', (code) => resolve(code)),
  );
  s.child.kill('SIGTERM');
  const killer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(killer);
  return code;
}

function strata(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: path.join(dir, 'cli'), env: baseEnv },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The version a server answers a few keys from, and whether every value is that version's. */
async function answerOf(url: string): Promise<{ version: string; consistent: boolean }> {
  const versions = new Set<string>();
  let consistent = true;
  for (const i of [0, 7, 123, 499]) {
    const res = await fetch(
      `${url}/v1/views/pageviews/get/${encodeURIComponent(`/page/${i % 50}`)}/${i}`,
    );
    const body = (await res.json()) as { version: string; value: number };
    versions.add(body.version);
    if (res.status !== 200 || res.headers.get('strata-view-version') !== body.version)
      consistent = false;
    if (body.value !== i * (body.version === OLD ? 1 : body.version === NEW ? 2 : NaN))
      consistent = false;
  }
  return { version: versions.size === 1 ? [...versions][0]! : [...versions].join('+'), consistent };
}

it('after strata views rollback, both of two strata serve processes answer from the older version within seconds, driven by the Redis announcement alone', async () => {
  let a: ServeChild | undefined;
  let b: ServeChild | undefined;
  try {
    [a, b] = await Promise.all([startServe('a'), startServe('b')]);
    expect(await answerOf(a.url)).toEqual({ version: NEW, consistent: true });
    expect(await answerOf(b.url)).toEqual({ version: NEW, consistent: true });

    const run = await strata(['views', 'rollback', 'pageviews']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `pageviews: current version ${NEW} → ${OLD} (announced to view servers)\n`,
    );

    const rolledBack = performance.now();
    const servers = [a, b];
    await Promise.all(
      servers.map((s) =>
        expect
          .poll(() => answerOf(s.url), { timeout: 5000, interval: 50 })
          .toEqual({ version: OLD, consistent: true }),
      ),
    );
    console.log(
      `both servers answered from ${OLD} ${Math.round(performance.now() - rolledBack)} ms after the rollback command returned`,
    );
    for (const s of servers) {
      // Every key, checked once more after the swap, and the summary names what was replaced.
      const keys = Array.from({ length: KEYS }, (_, i) => [`/page/${i % 50}`, i]);
      const multi = (await (
        await fetch(`${s.url}/v1/views/pageviews/get`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(keys),
        })
      ).json()) as { version: string; values: number[]; missing: number[] };
      expect(multi.version).toBe(OLD);
      expect(multi.missing).toEqual([]);
      expect(multi.values).toEqual(keys.map((_, i) => i));
      expect(await (await fetch(`${s.url}/v1/views/pageviews`)).json()).toMatchObject({
        version: OLD,
        previous: NEW,
      });
    }
    expect(await Promise.all([stopServe(a), stopServe(b)]), `${a.stderr()}${b.stderr()}`).toEqual([
      0, 0,
    ]);
  } finally {
    await Promise.all([stopServe(a), stopServe(b)]);
  }
});
