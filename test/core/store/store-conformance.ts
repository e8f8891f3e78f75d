/**
 * The one conformance suite of the ObjectStore contract; every backend's test file runs it.
 *
 *   describeStoreConformance('FileStore', () => FileStore.open(pathToFileURL(tempDir()).href));
 *
 * `openEmptyStore` must give a store with no objects in it (a fresh directory, or a fresh prefix
 * of a bucket); the suite closes each store it opens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isStrataError, type ErrorCode } from '../../../core/errors.ts';
import type { ObjectInfo, ObjectStore } from '../../../core/store/store.ts';

export interface ConformanceOptions {
  /** Called with the measured figures of the large-object case, for the report. */
  onThroughput?: (figures: { bytes: number; putMs: number; getMs: number }) => void;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect(isStrataError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught as Error;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  return out;
}

async function* chunksOf(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(off, off + n);
    off += n;
    await new Promise((r) => setImmediate(r)); // a real producer yields to the event loop
  }
}

export function describeStoreConformance(
  name: string,
  openEmptyStore: () => Promise<ObjectStore>,
  options: ConformanceOptions = {},
): void {
  describe(`${name} conforms to the ObjectStore contract`, () => {
    const opened: ObjectStore[] = [];
    const fresh = async () => {
      const store = await openEmptyStore();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('an object put is read back byte for byte, and put reports its key and size', async () => {
      const store = await fresh();
      const data = randomBytes(70_001);
      const info = await store.put('master/pv/dt=2026-01-01/1-ab.seg', data);
      expect(info).toMatchObject({ key: 'master/pv/dt=2026-01-01/1-ab.seg', size: 70_001 });
      expect(Buffer.from(await store.get('master/pv/dt=2026-01-01/1-ab.seg')).equals(data)).toBe(
        true,
      );
      await store.put('tmp/empty', new Uint8Array(0));
      expect((await store.get('tmp/empty')).length).toBe(0);
      expect((await store.stat('tmp/empty'))?.size).toBe(0);
    });

    it('byte ranges read like Array.slice: start only, start and end, clamped past the end, empty past the end', async () => {
      const store = await fresh();
      const data = bytes('0123456789');
      await store.put('code/r.mjs', data);
      expect(text(await store.get('code/r.mjs', { start: 3 }))).toBe('3456789');
      expect(text(await store.get('code/r.mjs', { start: 2, end: 5 }))).toBe('234');
      expect(text(await store.get('code/r.mjs', { start: 0, end: 1 }))).toBe('0');
      expect(text(await store.get('code/r.mjs', { start: 7, end: 100 }))).toBe('789');
      expect((await store.get('code/r.mjs', { start: 10 })).length).toBe(0);
      expect((await store.get('code/r.mjs', { start: 25, end: 30 })).length).toBe(0);
      expect((await store.get('code/r.mjs', { start: 4, end: 4 })).length).toBe(0);
    });

    it('a malformed byte range fails with STRATA_E_STORE_RANGE', async () => {
      const store = await fresh();
      await store.put('code/r.mjs', bytes('0123456789'));
      await rejectsWith(store.get('code/r.mjs', { start: -1 }), 'STRATA_E_STORE_RANGE');
      await rejectsWith(store.get('code/r.mjs', { start: 5, end: 4 }), 'STRATA_E_STORE_RANGE');
      await rejectsWith(store.get('code/r.mjs', { start: 1.5 }), 'STRATA_E_STORE_RANGE');
      await rejectsWith(
        store.getStream('code/r.mjs', { start: 2, end: 1 }),
        'STRATA_E_STORE_RANGE',
      );
    });

    it('getStream streams a whole object or a byte range', async () => {
      const store = await fresh();
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await store.put('master/s/1.seg', data);
      expect((await collect(await store.getStream('master/s/1.seg'))).equals(data)).toBe(true);
      expect(
        (
          await collect(
            await store.getStream('master/s/1.seg', { start: 1_000_000, end: 2_500_001 }),
          )
        ).equals(data.subarray(1_000_000, 2_500_001)),
      ).toBe(true);
      expect(
        (await collect(await store.getStream('master/s/1.seg', { start: data.length - 5 }))).equals(
          data.subarray(data.length - 5),
        ),
      ).toBe(true);
      expect(
        (await collect(await store.getStream('master/s/1.seg', { start: data.length + 5 }))).length,
      ).toBe(0);
    });

    it('download writes a whole object to a local file, replacing one there, and names an absent key', async () => {
      const store = await fresh();
      const data = randomBytes(2 * 1024 * 1024 + 5);
      await store.put('views/pv/v1/part-00000.sv', data);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-download-'));
      try {
        const file = path.join(dir, 'copy.sv');
        await writeFile(
          file,
          'an older, longer copy that must not survive at the end of the new one '.repeat(1000),
        );
        const info = await store.download('views/pv/v1/part-00000.sv', file);
        expect(info).toMatchObject({ key: 'views/pv/v1/part-00000.sv', size: data.length });
        expect((await readFile(file)).equals(data)).toBe(true);
        const err = await rejectsWith(
          store.download('views/pv/v1/part-00001.sv', path.join(dir, 'none.sv')),
          'STRATA_E_STORE_NOT_FOUND',
        );
        expect(err.message).toContain('views/pv/v1/part-00001.sv');
        await rejectsWith(
          store.download('views/../master/a', path.join(dir, 'bad.sv')),
          'STRATA_E_STORE_KEY',
        );
        // A local file that cannot be written: a local error naming the file, nothing left behind.
        const unwritable = path.join(dir, 'no-such-dir', 'copy.sv');
        const local = await rejectsWith(
          store.download('views/pv/v1/part-00000.sv', unwritable),
          'STRATA_E_STORE_IO',
        );
        expect(local.message).toContain(unwritable);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('stat gives size and time of a present object and undefined for an absent one', async () => {
      const store = await fresh();
      const before = Date.now();
      await store.put('views/pv/_CURRENT', bytes('v1'), { overwrite: true });
      const after = Date.now();
      const info = await store.stat('views/pv/_CURRENT');
      expect(info).toMatchObject({ key: 'views/pv/_CURRENT', size: 2 });
      // S3 keeps whole seconds; allow that and a little clock skew.
      expect(info!.modified).toBeGreaterThanOrEqual(before - 2_000);
      expect(info!.modified).toBeLessThanOrEqual(after + 2_000);
      expect(await store.stat('views/pv/_NOPE')).toBeUndefined();
      expect(await store.stat('views/pv')).toBeUndefined(); // a "folder" is not an object
    });

    it('list yields the objects under a prefix in byte order of their keys, and nothing outside it', async () => {
      const store = await fresh();
      // '-' < '.' < '/' in byte order: a folder's objects sort between its siblings, as S3 lists
      // them.
      const keys = ['p/b', 'p/a/b', 'p/ab', 'p/a-b', 'p/a.c', 'p/a/a/z', 'p/é', 'p/z'];
      const others = ['q/x', 'p2/x', 'pa'];
      for (const k of [...others, ...keys]) await store.put(k, bytes(k));
      const listed = await listAll(store, 'p/');
      expect(listed.map((o) => o.key)).toEqual([
        'p/a-b',
        'p/a.c',
        'p/a/a/z',
        'p/a/b',
        'p/ab',
        'p/b',
        'p/z',
        'p/é',
      ]);
      expect(listed.find((o) => o.key === 'p/é')?.size).toBe(Buffer.byteLength('p/é'));
      expect((await listAll(store, 'p/a')).map((o) => o.key)).toEqual([
        'p/a-b',
        'p/a.c',
        'p/a/a/z',
        'p/a/b',
        'p/ab',
      ]);
      expect((await listAll(store, 'p/a/')).map((o) => o.key)).toEqual(['p/a/a/z', 'p/a/b']);
      expect((await listAll(store, 'p')).length).toBe(keys.length + 2); // p/…, p2/x and pa
      expect(await listAll(store, 'nothing/')).toEqual([]);
      expect((await listAll(store, '')).length).toBe(keys.length + others.length);
    });

    it('a second put of the same key fails with STRATA_E_STORE_EXISTS and the original bytes stay', async () => {
      const store = await fresh();
      await store.put('master/pv/dt=2026-01-01/1-x.seg', bytes('original'));
      const err = await rejectsWith(
        store.put('master/pv/dt=2026-01-01/1-x.seg', bytes('impostor')),
        'STRATA_E_STORE_EXISTS',
      );
      expect(err.message).toContain('master/pv/dt=2026-01-01/1-x.seg');
      await rejectsWith(
        store.put('tmp/a', bytes('1')).then(() => store.put('tmp/a', chunksOf(bytes('22'), [1]))),
        'STRATA_E_STORE_EXISTS',
      );
      expect(text(await store.get('master/pv/dt=2026-01-01/1-x.seg'))).toBe('original');
      expect(text(await store.get('tmp/a'))).toBe('1');
    });

    it('of several writers racing to create one key, exactly one wins and its bytes are what is stored', async () => {
      const store = await fresh();
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.put('code/race.mjs', bytes(`writer-${i}`))),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected')
          expect(isStrataError(r.reason, 'STRATA_E_STORE_EXISTS')).toBe(true);
      expect(text(await store.get('code/race.mjs'))).toBe(`writer-${winners[0]}`);
    });

    it('a key taken while a large create-only put streams in still fails that put, and the other bytes stay', async () => {
      const store = await fresh();
      const part = randomBytes(17 * 1024 * 1024); // over one S3 part, so s3:// goes multipart
      async function* body() {
        yield part.subarray(0, 16 * 1024 * 1024);
        yield part.subarray(16 * 1024 * 1024);
        await store.put('master/late/1.seg', bytes('first writer')); // lands after the put began
      }
      await rejectsWith(store.put('master/late/1.seg', body()), 'STRATA_E_STORE_EXISTS');
      expect(text(await store.get('master/late/1.seg'))).toBe('first writer');
    });

    it('a pointer may be overwritten, an immutable key may not (STRATA_E_STORE_IMMUTABLE)', async () => {
      const store = await fresh();
      await store.put('views/pv/_CURRENT', bytes('v1'));
      await store.put('views/pv/_CURRENT', bytes('v2'), { overwrite: true });
      expect(text(await store.get('views/pv/_CURRENT'))).toBe('v2');
      await store.put('tmp/attempt-1/out', bytes('a'), { overwrite: true });
      await store.put('tmp/attempt-1/out', bytes('b'), { overwrite: true });
      expect(text(await store.get('tmp/attempt-1/out'))).toBe('b');
      for (const key of [
        'master/pv/dt=2026-01-01/1-a.seg',
        'code/abc.mjs',
        'views/pv/v3/part-0.sv',
        'views/pv/v3/_MANIFEST.json',
      ]) {
        await store.put(key, bytes('kept'));
        await rejectsWith(
          store.put(key, bytes('changed'), { overwrite: true }),
          'STRATA_E_STORE_IMMUTABLE',
        );
        expect(text(await store.get(key))).toBe('kept');
      }
      // Refused before anything is written, even when the key is still free.
      await rejectsWith(
        store.put('master/new.seg', bytes('x'), { overwrite: true }),
        'STRATA_E_STORE_IMMUTABLE',
      );
      expect(await store.stat('master/new.seg')).toBeUndefined();
    });

    it('delete is allowed under tmp/ and views/<view>/<version>/, absent keys included, and refused for master/, code/ and pointers', async () => {
      const store = await fresh();
      await store.put('master/d/1.seg', bytes('m'));
      await store.put('code/abc.mjs', bytes('c'));
      await store.put('views/v/_CURRENT', bytes('p'));
      await store.put('tmp/job-1/a/part', bytes('t'));
      await store.put('tmp/job-1/b', bytes('t'));
      await store.put('views/v/v0000000000001-a/part-0.sv', bytes('old part'));
      await store.put('views/v/v0000000000001-a/_MANIFEST.json', bytes('{}'));
      await store.put('views/v/v0000000000002-b/part-0.sv', bytes('new part'));
      for (const key of [
        'master/d/1.seg',
        'code/abc.mjs',
        'views/v/_CURRENT',
        'tmpx/1',
        'master/never-there.seg',
        'views/v',
        'viewsx/v/v1/part-0.sv',
      ]) {
        const err = await rejectsWith(store.delete(key), 'STRATA_E_STORE_IMMUTABLE');
        expect(err.message).toContain(key);
      }
      expect(text(await store.get('master/d/1.seg'))).toBe('m');
      expect(text(await store.get('code/abc.mjs'))).toBe('c');
      expect(text(await store.get('views/v/_CURRENT'))).toBe('p');
      await store.delete('tmp/job-1/a/part');
      expect(await store.stat('tmp/job-1/a/part')).toBeUndefined();
      await store.delete('tmp/job-1/a/part');
      await store.delete('tmp/never-there');
      expect((await listAll(store, 'tmp/')).map((o) => o.key)).toEqual(['tmp/job-1/b']);
      await store.put('tmp/job-1/a/part', bytes('again')); // a deleted tmp key can be written anew
      expect(text(await store.get('tmp/job-1/a/part'))).toBe('again');
      // A whole view version goes; its neighbours and the view's pointer stay.
      await store.delete('views/v/v0000000000001-a/_MANIFEST.json');
      await store.delete('views/v/v0000000000001-a/part-0.sv');
      await store.delete('views/v/v0000000000001-a/part-0.sv');
      expect((await listAll(store, 'views/')).map((o) => o.key)).toEqual([
        'views/v/_CURRENT',
        'views/v/v0000000000002-b/part-0.sv',
      ]);
      // Deletable is not overwritable: a version's files are still written once.
      await rejectsWith(
        store.put('views/v/v0000000000002-b/part-0.sv', bytes('changed'), { overwrite: true }),
        'STRATA_E_STORE_IMMUTABLE',
      );
      expect(text(await store.get('views/v/v0000000000002-b/part-0.sv'))).toBe('new part');
    });

    it('nothing under master/ can be deleted, overwritten or replaced, whatever the route', async () => {
      const store = await fresh();
      const key = 'master/pv/dt=2026-01-01/1-ab.seg';
      await store.put(key, bytes('the record of what happened'));
      await rejectsWith(store.delete(key), 'STRATA_E_STORE_IMMUTABLE');
      await rejectsWith(
        store.put(key, bytes('rewritten'), { overwrite: true }),
        'STRATA_E_STORE_IMMUTABLE',
      );
      await rejectsWith(store.put(key, bytes('rewritten')), 'STRATA_E_STORE_EXISTS');
      await store.put('tmp/impostor', bytes('rewritten'));
      await rejectsWith(store.copy('tmp/impostor', key), 'STRATA_E_STORE_EXISTS');
      for (const sneaky of [
        'tmp/../master/pv/dt=2026-01-01/1-ab.seg',
        'views/../master/pv/dt=2026-01-01/1-ab.seg',
        'views/v/../../master/pv/dt=2026-01-01/1-ab.seg',
      ]) {
        await rejectsWith(store.delete(sneaky), 'STRATA_E_STORE_KEY');
      }
      expect(text(await store.get(key))).toBe('the record of what happened');
      expect((await listAll(store, 'master/')).map((o) => o.key)).toEqual([key]);
    });

    it('copy commits a tmp/ object under a new key, create-only, leaving the source', async () => {
      const store = await fresh();
      const data = randomBytes(100_000);
      await store.put('tmp/job-1/attempt-2/part-0.sv', data);
      const info = await store.copy('tmp/job-1/attempt-2/part-0.sv', 'views/pv/v7/part-0.sv');
      expect(info).toMatchObject({ key: 'views/pv/v7/part-0.sv', size: 100_000 });
      expect(Buffer.from(await store.get('views/pv/v7/part-0.sv')).equals(data)).toBe(true);
      expect(Buffer.from(await store.get('tmp/job-1/attempt-2/part-0.sv')).equals(data)).toBe(true);
      await store.put('tmp/job-1/attempt-3/part-0.sv', bytes('other'));
      await rejectsWith(
        store.copy('tmp/job-1/attempt-3/part-0.sv', 'views/pv/v7/part-0.sv'),
        'STRATA_E_STORE_EXISTS',
      );
      expect(Buffer.from(await store.get('views/pv/v7/part-0.sv')).equals(data)).toBe(true);
      await rejectsWith(
        store.copy('tmp/missing', 'views/pv/v8/part-0.sv'),
        'STRATA_E_STORE_NOT_FOUND',
      );
      expect(await store.stat('views/pv/v8/part-0.sv')).toBeUndefined();
      // The committed copy outlives the deleted attempt.
      await store.delete('tmp/job-1/attempt-2/part-0.sv');
      expect(Buffer.from(await store.get('views/pv/v7/part-0.sv')).equals(data)).toBe(true);
    });

    it('a put streams a body from an async iterable of uneven chunks', async () => {
      const store = await fresh();
      const data = randomBytes(1_234_567);
      const info = await store.put(
        'master/it/1.seg',
        chunksOf(data, [1, 65_536, 7, 300_000, 0, 4096]),
      );
      expect(info.size).toBe(data.length);
      expect(Buffer.from(await store.get('master/it/1.seg')).equals(data)).toBe(true);
    });

    it('a body that throws half way fails the put with its own error and leaves no object behind', async () => {
      const store = await fresh();
      const boom = new Error('encoder failed');
      async function* body() {
        yield randomBytes(100_000);
        throw boom;
      }
      await expect(store.put('master/broken/1.seg', body())).rejects.toBe(boom);
      expect(await store.stat('master/broken/1.seg')).toBeUndefined();
      expect(await listAll(store, '')).toEqual([]);
      await store.put('master/broken/1.seg', bytes('fine')); // the key is still free
    });

    it('reading an absent key fails with STRATA_E_STORE_NOT_FOUND naming the key', async () => {
      const store = await fresh();
      const err = await rejectsWith(store.get('master/none/1.seg'), 'STRATA_E_STORE_NOT_FOUND');
      expect(err.message).toContain('master/none/1.seg');
      await rejectsWith(
        store.get('master/none/1.seg', { start: 0, end: 0 }),
        'STRATA_E_STORE_NOT_FOUND',
      );
      await rejectsWith(store.getStream('master/none/1.seg'), 'STRATA_E_STORE_NOT_FOUND');
      await rejectsWith(
        store.getStream('master/none/1.seg', { start: 5 }),
        'STRATA_E_STORE_NOT_FOUND',
      );
    });

    it('a malformed key or prefix fails with STRATA_E_STORE_KEY on every operation', async () => {
      const store = await fresh();
      const badKeys = [
        '',
        '/master/a',
        'master/../a',
        'master/./a',
        'a\\b',
        'a\0b',
        'a//b',
        'master/a/',
        '..',
        '.partial/x',
        `a/${'x'.repeat(256)}`,
      ];
      for (const key of badKeys) {
        const err = await rejectsWith(store.put(key, bytes('x')), 'STRATA_E_STORE_KEY');
        expect(err.message).toContain(JSON.stringify(key).slice(0, 20));
        await rejectsWith(store.get(key), 'STRATA_E_STORE_KEY');
        await rejectsWith(store.stat(key), 'STRATA_E_STORE_KEY');
        await rejectsWith(store.copy('tmp/x', key), 'STRATA_E_STORE_KEY');
      }
      await rejectsWith(store.delete('tmp/../master/a'), 'STRATA_E_STORE_KEY');
      for (const prefix of ['/x', '../', 'a//b/', 'a\\'])
        await rejectsWith(listAll(store, prefix), 'STRATA_E_STORE_KEY');
      expect(await listAll(store, '')).toEqual([]);
    });

    it('an object over 100 MiB streams in and out without being held whole, and its sha256 matches', async () => {
      const store = await fresh();
      const chunk = 1024 * 1024;
      const count = 101;
      const base = randomBytes(chunk);
      const hashIn = createHash('sha256');
      async function* generate() {
        for (let i = 0; i < count; i++) {
          const c = Buffer.from(base);
          c.writeUInt32BE(i, (i * 4099) % (chunk - 4)); // every chunk differs: a lost or swapped part shows
          hashIn.update(c);
          yield c;
        }
      }
      let t = performance.now();
      const info = await store.put('master/big/1.seg', generate());
      const putMs = performance.now() - t;
      expect(info.size).toBe(count * chunk);
      t = performance.now();
      const hashOut = createHash('sha256');
      let size = 0;
      for await (const c of await store.getStream('master/big/1.seg')) {
        hashOut.update(c);
        size += c.length;
      }
      const getMs = performance.now() - t;
      expect(size).toBe(count * chunk);
      expect(hashOut.digest('hex')).toBe(hashIn.digest('hex'));
      expect((await store.stat('master/big/1.seg'))?.size).toBe(count * chunk);
      options.onThroughput?.({ bytes: count * chunk, putMs, getMs });
    });
  });
}
