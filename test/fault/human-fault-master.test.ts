/**
 * Human-fault tolerance, part one: the master dataset cannot be overwritten or deleted through
 * Strata. Whatever an operator's script or a buggy program asks of the store — a second put, an
 * overwrite, a delete, a copy onto a segment, a key that climbs out of tmp/, an overwrite of a
 * tmp/ copy that shares the segment's inode (file:// copies are hard links) — every segment
 * written by the ingest path keeps its key and its exact bytes, on both backends.
 *
 * (The store conformance suite checks the rules key by key; this file checks them against a real
 * dataset, and keeps master/ refused while deletes are loosened elsewhere for view retention.)
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetAppender } from '../../core/dataset/dataset-appender.ts';
import { isStrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import { startS3Server, type S3TestServer } from '../support/s3-server.ts';

let dir: string;
let s3: S3TestServer;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-human-fault-'));
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every master/ key with the sha256 of its bytes. */
async function snapshot(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list('master/'))
    out.set(
      o.key,
      createHash('sha256')
        .update(await store.get(o.key))
        .digest('hex'),
    );
  return out;
}

async function ingest(store: ObjectStore, seed: number): Promise<string[]> {
  const appender = new DatasetAppender(store, 'pageviews', {
    blockTargetBytes: 16 * 1024,
    timeField: 'time',
  });
  for (const e of generatePageviews({ count: 3000, seed, days: 3 })) {
    const wait = appender.append(e as unknown as Record<string, unknown>, Date.parse(e.time));
    if (wait) await wait;
  }
  return (await appender.commit()).segments.map((s) => s.key);
}

/** The error code an attempt failed with ('ok' if it did not fail). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isStrataError(err)) return err.code;
    throw err;
  }
}

const backends: Array<[string, () => Promise<ObjectStore>]> = [
  ['file://', () => openStore(`file://${path.join(dir, `store-${randomUUID()}`)}`)],
  ['s3://', () => openStore(s3.url('human-fault', `run-${randomUUID()}`))],
];

describe.each(backends)('the master dataset on %s', (_name, open) => {
  it('refuses every overwrite, delete and copy onto its segments, and sneaky keys; its keys and bytes never change', async () => {
    const store = await open();
    try {
      const keys = await ingest(store, 1);
      expect(keys.length).toBeGreaterThanOrEqual(3);
      const before = await snapshot(store);
      expect([...before.keys()].sort()).toEqual([...keys].sort());
      const impostor = new TextEncoder().encode('not a segment');
      await store.put('tmp/impostor', impostor);

      for (const key of keys) {
        expect(await outcome(store.put(key, impostor))).toBe('STRATA_E_STORE_EXISTS');
        expect(await outcome(store.put(key, impostor, { overwrite: true }))).toBe(
          'STRATA_E_STORE_IMMUTABLE',
        );
        expect(await outcome(store.delete(key))).toBe('STRATA_E_STORE_IMMUTABLE');
        expect(await outcome(store.copy('tmp/impostor', key))).toBe('STRATA_E_STORE_EXISTS');
        for (const sneaky of [
          `tmp/../${key}`,
          `./${key}`,
          key.replace('master/', 'master//'),
          `${key}/.`,
        ]) {
          expect(await outcome(store.delete(sneaky))).toBe('STRATA_E_STORE_KEY');
          expect(await outcome(store.put(sneaky, impostor, { overwrite: true }))).toBe(
            'STRATA_E_STORE_KEY',
          );
        }
        // A copy into tmp/ (a hard link on file://) that is then overwritten and deleted leaves the
        // segment as it was.
        const scratch = `tmp/scratch/${key.split('/').pop()}`;
        await store.copy(key, scratch);
        await store.put(scratch, impostor, { overwrite: true });
        await store.delete(scratch);
      }
      // Even a key under master/ that looks like a view version's is refused.
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.stringMatching(/^[a-z0-9=_.-]{1,12}$/).filter((s) => s !== '.' && s !== '..'),
            { minLength: 1, maxLength: 4 },
          ),
          async (parts) => {
            const key = `master/${parts.join('/')}`;
            expect(await outcome(store.delete(key))).toBe('STRATA_E_STORE_IMMUTABLE');
            expect(await outcome(store.put(key, impostor, { overwrite: true }))).toBe(
              'STRATA_E_STORE_IMMUTABLE',
            );
          },
        ),
        { numRuns: 25 },
      );
      expect(await snapshot(store)).toEqual(before);

      // Ingesting the same data again appends new segments; the old ones stay, byte for byte.
      const again = await ingest(store, 1);
      expect(again.filter((k) => before.has(k))).toEqual([]);
      const after = await snapshot(store);
      for (const [key, hash] of before) expect(after.get(key)).toBe(hash);
      expect(after.size).toBe(before.size + again.length);
    } finally {
      await store.close();
    }
  });
});
