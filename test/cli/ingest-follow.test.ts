/**
 * `strata ingest --follow`, run as a real process against a real speed layer: it tails a file
 * that keeps growing (half-written lines included), resends a batch the speed layer could not
 * take, stops on Ctrl-C with a summary, reads stdin to its end, and names the file line of a
 * bad record.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { startSpeedServer, type SpeedServer } from '../../speed/start-speed-server.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { TOKEN, readDataset, speedConfig } from '../speed/speed-fixture.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
let redis: TestRedis;
let dir: string;
let store: ObjectStore;
const config = () =>
  speedConfig({
    redisUrl: redis.url,
    store: `file://${path.join(dir, 'store')}`,
    redisPrefix: 'follow',
  });

beforeAll(async () => {
  redis = await startTestRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-follow-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
});
afterAll(async () => {
  await store?.close();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 5, 9);
const line = (id: string, i = 0) =>
  `${JSON.stringify({ id, time: new Date(T0 + i * 1000).toISOString(), price: 100 + (i % 7) })}\n`;
const lines = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => line(`${prefix}${i}`, i)).join('');

function follow(
  args: string[],
  url: string,
): {
  child: ChildProcessWithoutNullStreams;
  out: { stdout: string; stderr: string };
  exited: Promise<number | null>;
} {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_'))),
    STRATA_SPEED_URL: url,
    STRATA_TOKEN: TOKEN,
    STRATA_HOME: path.join(dir, 'home'),
  };
  const child = spawn(process.execPath, [BIN, 'ingest', '--follow', ...args], { cwd: dir, env });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  return { child, out, exited };
}

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 20_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ids(dataset: string): Promise<string[]> {
  return (await readDataset(store, dataset)).map((r) => r.id as string);
}

describe('strata ingest --follow', () => {
  it('tails a growing file (also half-written lines), resends a batch while the speed layer is down, and Ctrl-C stops it with a summary', async () => {
    let server: SpeedServer = await startSpeedServer(config(), { store });
    const file = path.join(dir, 'ticks.ndjson');
    await writeFile(file, lines('a', 3000));
    const run = follow([file, '--dataset', 'ticks'], server.url);
    try {
      await until('the first 3000 lines', async () => (await ids('ticks')).length === 3000);
      // A writer that is half way through a line: the half is not sent until its newline comes.
      const half = line('half', 1);
      await appendFile(file, `${lines('b', 500)}${half.slice(0, 20)}`);
      await until('the next 500', async () => (await ids('ticks')).length === 3500);
      await new Promise((r) => setTimeout(r, 300));
      expect((await ids('ticks')).length).toBe(3500);
      await appendFile(file, half.slice(20));
      await until('the completed line', async () => (await ids('ticks')).includes('half'));

      // The speed layer goes away; lines appended meanwhile are sent again until it is back.
      const port = server.port;
      await server.close();
      await appendFile(file, lines('c', 200));
      await until('a retry message', () =>
        /failed: the speed layer at .* could not be reached .*; sending it again in [\d.]+ s \(attempt 2\)/.test(
          run.out.stderr,
        ),
      );
      server = await startSpeedServer(config(), { store, port });
      await until(
        'the lines appended while it was down',
        async () => (await ids('ticks')).length === 3701,
      );

      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      expect(run.out.stdout).toMatch(
        /^followed .*ticks\.ndjson into "ticks": 3,701 records acknowledged in \d+ batches over [\d.]+ s \([\d,]+ records\/s\), [1-9]\d* retr(y|ies); stopped on request\n$/,
      );
      const all = await ids('ticks');
      expect(new Set(all).size).toBe(all.length); // a resent batch is not stored twice
    } finally {
      run.child.kill('SIGKILL');
      await server.close();
    }
  });

  it('reads stdin to its end, and a bad record stops it naming the line of the input', async () => {
    const server = await startSpeedServer(config(), { store });
    try {
      const ok = follow(['-', '--dataset', 'stdin-ticks', '--json'], server.url);
      ok.child.stdin.end(`${lines('s', 1200)}${line('last', 2).trimEnd()}`); // no newline after the last line
      expect(await ok.exited).toBe(0);
      expect(JSON.parse(ok.out.stdout)).toMatchObject({
        dataset: 'stdin-ticks',
        input: 'stdin',
        records: 1201,
        unacknowledged: 0,
        stoppedBy: 'end',
      });
      expect((await ids('stdin-ticks')).length).toBe(1201);

      const bad = follow(['-', '--dataset', 'bad-ticks'], server.url);
      bad.child.stdin.end(
        `${lines('x', 10)}\n${JSON.stringify({ id: 'oops', time: '2026-01-05 10:00' })}\n${lines('y', 5)}`,
      );
      expect(await bad.exited).toBe(1);
      expect(bad.out.stderr).toMatch(
        /strata: stdin line 12: time field "time" is "2026-01-05 10:00", a date-time without a time zone; .*the batch of lines 1–17 was not stored \(the lines before it were\) \[STRATA_E_RECORD_INVALID\]/,
      );
    } finally {
      await server.close();
    }
  });
});
