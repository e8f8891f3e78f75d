import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { compareKeys, type KeyPart } from '../../../core/keys/key-codec.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectStore } from '../../../core/store/store.ts';
import { ViewReader } from '../../../core/views/view-reader.ts';
import { publishView, type Row } from '../../cli/fixtures/publish-view.ts';

let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-view-reader-'));
  store = await openStore(`file://${dir}`);
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const sortRows = (rows: Row[]) => [...rows].sort((a, b) => compareKeys(a[0], b[0]));

describe('ViewReader', () => {
  it('get and scan over a published view agree with the rows, for any rows and partition count', async () => {
    const keyArb = fc.tuple(
      fc.oneof(fc.integer({ min: -5, max: 30 }), fc.constantFrom('/a', '/b', '7', '', 'é')),
      fc.oneof(fc.integer({ min: 0, max: 5 }), fc.string({ maxLength: 3 })),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { maxLength: 60, selector: (k) => JSON.stringify(k) }),
        fc.integer({ min: 1, max: 9 }),
        async (keys, partitions) => {
          const view = `prop-${n++}`;
          const rows: Row[] = keys.map((k, i) => [k as KeyPart[], { i }]);
          await publishView(store, view, rows, { partitions, skipEmptyParts: n % 2 === 0 });
          const reader = await ViewReader.open(store, view);
          try {
            for (const [k, v] of rows) expect(await reader.get(k)).toEqual(v);
            expect(await reader.get(['absent', 1])).toBeUndefined();
            const all: Row[] = [];
            for await (const e of reader.scan()) all.push(e);
            expect(all).toEqual(sortRows(rows));
            const emptyPrefix: Row[] = [];
            for await (const e of reader.scan({ prefix: [] })) emptyPrefix.push(e);
            expect(emptyPrefix).toEqual(all);
            const first = keys[0]?.[0] ?? '/a';
            const prefixed: Row[] = [];
            for await (const e of reader.scan({ prefix: [first] })) prefixed.push(e);
            expect(prefixed).toEqual(sortRows(rows.filter(([k]) => k[0] === first)));
            const limited: Row[] = [];
            for await (const e of reader.scan({ limit: 3 })) limited.push(e);
            expect(limited).toEqual(sortRows(rows).slice(0, 3));
          } finally {
            await reader.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reads an older version when asked, and the current one by default', async () => {
    const old = await publishView(store, 'versions', [[['/x'], 1]], {
      version: 'v0000000000001-old',
    });
    await publishView(store, 'versions', [[['/x'], 2]], { version: 'v0000000000002-new' });
    const current = await ViewReader.open(store, 'versions');
    const previous = await ViewReader.open(store, 'versions', { version: old.version });
    expect([current.version, await current.get(['/x'])]).toEqual(['v0000000000002-new', 2]);
    expect([previous.version, await previous.get('/x')]).toEqual(['v0000000000001-old', 1]);
    await current.close();
    await previous.close();
  });

  it('an unknown view or version is STRATA_E_VIEW_NOT_FOUND naming it', async () => {
    const missing = await ViewReader.open(store, 'nope').catch((e: unknown) => e);
    expect(isStrataError(missing, 'STRATA_E_VIEW_NOT_FOUND') && missing.message).toMatch(
      /no view "nope" has been published/,
    );
    const badVersion = await ViewReader.open(store, 'versions', {
      version: 'v0000000000009-zzz',
    }).catch((e: unknown) => e);
    expect(isStrataError(badVersion, 'STRATA_E_VIEW_NOT_FOUND') && badVersion.message).toMatch(
      /no version v0000000000009-zzz; its versions are v0000000000001-old, v0000000000002-new/,
    );
  });

  it('a lookup reads only the part file its key hashes to; a prefix scan too', async () => {
    const rows: Row[] = Array.from({ length: 200 }, (_, i) => [[`/p/${i}`, i % 24], i]);
    await publishView(store, 'lazy', rows, { partitions: 8 });
    const read = new Set<string>();
    const counting: ObjectStore = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'get')
          return (key: string, range?: { start: number; end?: number }) => (
            read.add(key),
            target.get(key, range)
          );
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const reader = await ViewReader.open(counting, 'lazy');
    expect(await reader.get(['/p/17', 17])).toBe(17);
    const parts = () => [...read].filter((k) => k.endsWith('.sv'));
    expect(parts()).toHaveLength(1);
    const scanned: Row[] = [];
    for await (const e of reader.scan({ prefix: '/p/18' })) scanned.push(e);
    expect(scanned).toEqual([[['/p/18', 18], 18]]);
    expect(parts().length).toBeLessThanOrEqual(2);
    await reader.close();
  });
});
