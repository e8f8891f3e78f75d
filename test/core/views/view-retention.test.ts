/**
 * View version retention on both store backends (a real directory and a real S3 server): after a
 * prune exactly the configured number of older versions is left, and the current version (even
 * after a rollback), newer versions, commits in progress and the master dataset are never touched.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/log.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectInfo, ObjectStore } from '../../../core/store/store.ts';
import {
  listVersions,
  partKey,
  readCurrentVersion,
  setCurrentVersion,
} from '../../../core/views/view-layout.ts';
import {
  IN_PROGRESS_MS,
  pruneAfterPublish,
  pruneViewVersions,
} from '../../../core/views/view-retention.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { publishView } from '../../cli/fixtures/publish-view.ts';

let dir: string;
let s3: S3TestServer;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-retention-'));
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<ObjectStore>]> = [
  ['file store', () => openStore(`file://${path.join(dir, randomUUID())}`)],
  ['S3 store', () => openStore(s3.url('retention', `run-${randomUUID()}`))],
];

const version = (i: number) => `v${String(1000 + i).padStart(13, '0')}-r${i}`;
const bytes = (s: string) => new TextEncoder().encode(s);

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

/** Publishes versions 0..count-1 of `view` in order (each becomes current), one row each. */
async function publishVersions(store: ObjectStore, view: string, count: number): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 0; i < count; i++) {
    await publishView(store, view, [[['/k', i], i]], { partitions: 2, version: version(i) });
    versions.push(version(i));
  }
  return versions;
}

describe.each(backends)('view retention on the %s', (_name, open) => {
  it('keeps the current version, every newer one and exactly the newest `keep` older committed ones, for any history and rollback', async () => {
    const store = await open();
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 7 }),
          fc.integer({ min: 0, max: 4 }),
          fc.nat(),
          async (count, keep, pick) => {
            const view = `p${n++}`;
            const versions = await publishVersions(store, view, count);
            const current = versions[pick % count]!; // a rollback, or the latest
            await setCurrentVersion(store, view, current);
            const at = versions.indexOf(current);
            const expectedKept = [
              ...versions.slice(Math.max(0, at - keep), at),
              ...versions.slice(at),
            ];

            const result = await pruneViewVersions(store, view, { keep });
            expect(result.kept).toEqual(expectedKept);
            expect(result.deleted).toEqual(versions.slice(0, Math.max(0, at - keep)));
            expect(await listVersions(store, view)).toEqual(expectedKept);
            expect(await readCurrentVersion(store, view)).toBe(current);
            // Nothing of a deleted version is left; a kept one is whole.
            const left = await keysUnder(store, `views/${view}/`);
            for (const v of result.deleted)
              expect(left.filter((k) => k.includes(`/${v}/`))).toEqual([]);
            for (const v of expectedKept)
              expect(left.filter((k) => k.includes(`/${v}/`))).toEqual(
                [
                  `views/${view}/${v}/_MANIFEST.json`,
                  partKey(view, v, 0),
                  partKey(view, v, 1),
                ].sort(),
              );
            // Pruning again changes nothing.
            expect((await pruneViewVersions(store, view, { keep })).deleted).toEqual([]);
          },
        ),
        { numRuns: 12 },
      );
    } finally {
      await store.close();
    }
  });

  it('after a rollback the old version it points to survives any number of later prunes, and rolling forward still works', async () => {
    const store = await open();
    try {
      const versions = await publishVersions(store, 'rb', 6);
      await setCurrentVersion(store, 'rb', versions[1]!); // the bad deploy was versions 2..5
      for (let i = 0; i < 3; i++)
        expect((await pruneViewVersions(store, 'rb', { keep: 0 })).deleted).toEqual(
          i === 0 ? [versions[0]] : [],
        );
      expect(await listVersions(store, 'rb')).toEqual(versions.slice(1));
      await setCurrentVersion(store, 'rb', versions[5]!);
      expect((await pruneViewVersions(store, 'rb', { keep: 2 })).deleted).toEqual(
        versions.slice(1, 3),
      );
      expect(await listVersions(store, 'rb')).toEqual(versions.slice(3));
    } finally {
      await store.close();
    }
  });

  it('a version folder without a manifest is left alone while it may be a commit in progress, and removed once it cannot be', async () => {
    const store = await open();
    try {
      const versions = await publishVersions(store, 'ip', 3);
      // A commit cut short long ago (named early) and one still copying (named just now), both
      // older than the current version by name once a later version is published.
      const stale = version(1).replace('-r1', '-stale');
      await store.put(partKey('ip', stale, 0), bytes('half a commit'));
      const now = Date.now();
      const named = (t: number, suffix: string) => `v${String(t).padStart(13, '0')}-${suffix}`;
      const copying = named(now + IN_PROGRESS_MS / 2, 'copying'); // a commit that starts half an hour on
      await store.put(partKey('ip', copying, 0), bytes('being copied'));
      const latest = named(now + IN_PROGRESS_MS / 2 + 1, 'latest');
      await publishView(store, 'ip', [[['/k', 9], 9]], { partitions: 1, version: latest });

      // Files written just now: both folders might be commits in progress.
      let r = await pruneViewVersions(store, 'ip', { keep: 5, now });
      expect(r.deleted).toEqual([]);
      expect(await keysUnder(store, `views/ip/${stale}/`)).toEqual([partKey('ip', stale, 0)]);
      // An hour on (by the clock the rule reads): the early-named one is garbage; the other was
      // named half an hour before that, so it may still be copying.
      r = await pruneViewVersions(store, 'ip', { keep: 5, now: now + IN_PROGRESS_MS + 1000 });
      expect(r.deleted).toEqual([stale]);
      expect(await keysUnder(store, `views/ip/${copying}/`)).toEqual([partKey('ip', copying, 0)]);
      r = await pruneViewVersions(store, 'ip', { keep: 5, now: now + 2 * IN_PROGRESS_MS + 1000 });
      expect(r.deleted).toEqual([copying]);
      expect(r.kept).toEqual([...versions, latest]);
      // Never one newer than the current version, manifest or not, however old.
      const next = named(now + IN_PROGRESS_MS / 2 + 2, 'next');
      await store.put(partKey('ip', next, 0), bytes('next'));
      r = await pruneViewVersions(store, 'ip', { keep: 0, now: now + 10 * IN_PROGRESS_MS });
      expect(r.deleted).toEqual(versions);
      expect(await keysUnder(store, `views/ip/${next}/`)).toEqual([partKey('ip', next, 0)]);
    } finally {
      await store.close();
    }
  });

  it('a prune stops when _CURRENT moves under it: a rollback mid-prune to a version it meant to delete keeps that version', async () => {
    const store = await open();
    try {
      const versions = await publishVersions(store, 'race', 5);
      let rolledBack = false;
      // The real store; its first delete is when an operator's rollback lands.
      const racing: ObjectStore = Object.create(store, {
        delete: {
          value: async (key: string) => {
            await store.delete(key);
            if (!rolledBack) {
              rolledBack = true;
              await setCurrentVersion(store, 'race', versions[2]!);
            }
          },
        },
      });
      const r = await pruneViewVersions(racing, 'race', { keep: 0 });
      expect(r.deleted).toEqual([versions[0]]);
      expect(await readCurrentVersion(store, 'race')).toBe(versions[2]);
      expect(await listVersions(store, 'race')).toEqual(versions.slice(1));
    } finally {
      await store.close();
    }
  });

  it('pruning touches nothing outside the view, and the store refuses to delete or overwrite the master dataset', async () => {
    const store = await open();
    try {
      const seg = 'master/pv/dt=2026-01-01/1-abc.seg';
      await store.put(seg, bytes('events'));
      await store.put('code/abc.mjs', bytes('job'));
      await publishVersions(store, 'pv', 4);
      await publishVersions(store, 'pvx', 4); // a view whose name extends the first
      expect((await pruneViewVersions(store, 'pv', { keep: 0 })).deleted).toHaveLength(3);
      expect(await listVersions(store, 'pvx')).toHaveLength(4);
      expect(await keysUnder(store, 'master/')).toEqual([seg]);
      expect(await keysUnder(store, 'code/')).toEqual(['code/abc.mjs']);
      for (const attempt of [
        () => store.delete(seg),
        () => store.put(seg, bytes('rewritten'), { overwrite: true }),
        () => store.delete('code/abc.mjs'),
        () => store.delete('views/pv/_CURRENT'),
      ]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(isStrataError(err, 'STRATA_E_STORE_IMMUTABLE'), String(err)).toBe(true);
      }
      expect(new TextDecoder().decode(await store.get(seg))).toBe('events');
      // A view never published has nothing to prune.
      expect(await pruneViewVersions(store, 'never', { keep: 0 })).toEqual({
        deleted: [],
        kept: [],
      });
    } finally {
      await store.close();
    }
  });
});

describe('pruneAfterPublish', () => {
  it('keeps versionsKept older versions (3 when not given), and a store that fails mid-prune only logs a warning', async () => {
    const store = await openStore(`file://${path.join(dir, randomUUID())}`);
    try {
      const versions = await publishVersions(store, 'after', 7);
      await pruneAfterPublish({ store, versionsKept: 4 }, 'after');
      expect(await listVersions(store, 'after')).toEqual(versions.slice(2));
      await pruneAfterPublish({ store }, 'after');
      expect(await listVersions(store, 'after')).toEqual(versions.slice(3));

      await publishView(store, 'after', [[['/k', 8], 8]], { partitions: 2, version: version(8) });
      const warnings: unknown[] = [];
      const log = { warn: (o: unknown) => warnings.push(o), info: () => {} } as unknown as Logger;
      // The real store, with its deletes failing from the second on (an outage mid-prune).
      let deletes = 0;
      const failing: ObjectStore = Object.create(store, {
        delete: {
          value: async (key: string) =>
            ++deletes > 1 ? Promise.reject(new Error('disk on fire')) : store.delete(key),
        },
        list: { value: (prefix: string): AsyncIterable<ObjectInfo> => store.list(prefix) },
      });
      await expect(
        pruneAfterPublish({ store: failing, log, versionsKept: 1 }, 'after'),
      ).resolves.toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(String((warnings[0] as { err: Error }).err)).toContain('disk on fire');
      // The manifest went first: the half-deleted version is no longer listed (nor a rollback
      // target), and a later prune finishes it (its files here are fresh, so "later" is an hour on:
      // until then it could be a commit in progress).
      expect(await listVersions(store, 'after')).toEqual([
        version(4),
        version(5),
        version(6),
        version(8),
      ]);
      expect(await keysUnder(store, `views/after/${version(3)}/`)).toEqual([
        partKey('after', version(3), 0),
        partKey('after', version(3), 1),
      ]);
      await pruneViewVersions(store, 'after', { keep: 1, now: Date.now() + IN_PROGRESS_MS + 1000 });
      expect(await listVersions(store, 'after')).toEqual([version(6), version(8)]);
      expect(
        (await keysUnder(store, 'views/after/'))
          .filter((k) => !k.endsWith('_CURRENT'))
          .map((k) => k.split('/')[2]),
      ).toEqual([version(6), version(6), version(6), version(8), version(8), version(8)]);
    } finally {
      await store.close();
    }
  });
});
