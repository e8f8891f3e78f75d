/**
 * `strata views history` and `strata views rollback` as real processes: a rollback moves
 * _CURRENT back to a committed version, announces it on the cluster's Redis, and deletes nothing;
 * a version retention deleted is refused with the versions that are left.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClusterFile } from '../../core/cluster-file.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { listVersions, readCurrentVersion } from '../../core/views/view-layout.ts';
import { pruneViewVersions } from '../../core/views/view-retention.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { publishView } from './fixtures/publish-view.ts';

const BIN = path.resolve(import.meta.dirname, '../../cli/bin.mjs');
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);
let cwd: string;
let store: ObjectStore;
let redis: TestRedis;

function strata(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-rollback-'));
  redis = await startTestRedis();
  const storeUrl = `file://${path.join(cwd, 'data')}`;
  await writeClusterFile(path.join(cwd, '.strata'), {
    redisUrl: redis.url,
    redisPrefix: 'rb',
    token: 't',
    coordinatorUrl: 'http://127.0.0.1:9',
    store: storeUrl,
    pids: {},
  });
  store = await openStore(storeUrl);
  // The classic mistake: version 2 counts every pageview twice.
  await publishView(
    store,
    'pageviews',
    [
      [['/a', 'h1'], 3],
      [['/b', 'h1'], 5],
    ],
    { partitions: 2, version: 'v0000000000001-good' },
  );
  await publishView(
    store,
    'pageviews',
    [
      [['/a', 'h1'], 6],
      [['/b', 'h1'], 10],
    ],
    { partitions: 2, version: 'v0000000000002-double' },
  );
});
afterAll(async () => {
  await store?.close();
  await redis?.stop();
  await rm(cwd, { recursive: true, force: true });
});

describe('strata views rollback', () => {
  it('lists the history newest first with the current version marked', async () => {
    const run = await strata(['views', 'history', 'pageviews', '--json']);
    expect(run.code).toBe(0);
    const history = JSON.parse(run.stdout) as Array<{
      version: string;
      current: boolean;
      records: number;
    }>;
    expect(history.map((h) => [h.version, h.current, h.records])).toEqual([
      ['v0000000000002-double', true, 2],
      ['v0000000000001-good', false, 2],
    ]);
  });

  it('points _CURRENT back at the previous version, announces it, and keeps every version', async () => {
    const sub = new Redis(redis.url);
    const heard: string[] = [];
    await sub.subscribe('rb:views');
    sub.on('message', (_channel, message: string) => heard.push(message));
    try {
      const run = await strata(['views', 'rollback', 'pageviews']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(
        'pageviews: current version v0000000000002-double → v0000000000001-good (announced to view servers)\n',
      );
      expect(await readCurrentVersion(store, 'pageviews')).toBe('v0000000000001-good');
      const reader = await ViewReader.open(store, 'pageviews');
      expect(await reader.get(['/a', 'h1'])).toBe(3);
      await reader.close();
      expect(await listVersions(store, 'pageviews')).toEqual([
        'v0000000000001-good',
        'v0000000000002-double',
      ]);
      await expect
        .poll(() => heard)
        .toEqual([JSON.stringify({ view: 'pageviews', version: 'v0000000000001-good' })]);
    } finally {
      sub.disconnect();
    }
  });

  it('refuses a version that was never committed, and an unknown view, changing nothing', async () => {
    const before = await readCurrentVersion(store, 'pageviews');
    const bad = await strata(['views', 'rollback', 'pageviews', 'v0000000000009-nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'view "pageviews" has no committed version v0000000000009-nope; its versions are v0000000000001-good, v0000000000002-double (after each publish',
    );
    expect(bad.stderr).toContain(
      'STRATA_VIEW_VERSIONS_KEPT; an older one comes back by running its job again) [STRATA_E_VIEW_NOT_FOUND]',
    );
    const unknown = await strata(['views', 'rollback', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('STRATA_E_VIEW_NOT_FOUND');
    const oldest = await strata(['views', 'rollback', 'pageviews']);
    expect(oldest.code).toBe(2);
    expect(oldest.stderr).toContain('has no version older than the current v0000000000001-good');
    expect(await readCurrentVersion(store, 'pageviews')).toBe(before);
  });

  it('a version retention deleted cannot be rolled back to: the error names the versions left, which history lists and rollback reaches', async () => {
    const v = (i: number) => `v000000000001${i}-c${i}`;
    for (let i = 1; i <= 5; i++)
      await publishView(store, 'clicks', [[['/c', i], i]], { partitions: 1, version: v(i) });
    expect((await pruneViewVersions(store, 'clicks', { keep: 2 })).deleted).toEqual([v(1), v(2)]);
    const gone = await strata(['views', 'rollback', 'clicks', v(1)]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(
      `view "clicks" has no committed version ${v(1)}; its versions are ${v(3)}, ${v(4)}, ${v(5)} (after each publish only the newest few older versions are kept, STRATA_VIEW_VERSIONS_KEPT`,
    );
    const history = await strata(['views', 'history', 'clicks', '--json']);
    expect(history.code).toBe(0);
    expect(
      (JSON.parse(history.stdout) as Array<{ version: string; current: boolean }>).map((h) => [
        h.version,
        h.current,
      ]),
    ).toEqual([
      [v(5), true],
      [v(4), false],
      [v(3), false],
    ]);
    const back = await strata(['views', 'rollback', 'clicks', v(3)]);
    expect(back.code).toBe(0);
    expect(await readCurrentVersion(store, 'clicks')).toBe(v(3));
  });
});
