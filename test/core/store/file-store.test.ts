import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { FileStore } from '../../../core/store/file-store.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { describeStoreConformance } from './store-conformance.ts';

let base: string;
let n = 0;
beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-file-store-'));
});
afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});
const freshDir = () => path.join(base, `s${++n}`);

describeStoreConformance('FileStore', () => FileStore.open(pathToFileURL(freshDir()).href), {
  onThroughput: ({ bytes, putMs, getMs }) =>
    console.info(
      `[file store] ${(bytes / 2 ** 20).toFixed(0)} MiB: put ${putMs.toFixed(0)} ms (${(bytes / 1e6 / (putMs / 1e3)).toFixed(0)} MB/s), get ${getMs.toFixed(0)} ms (${(bytes / 1e6 / (getMs / 1e3)).toFixed(0)} MB/s)`,
    ),
});

describe('FileStore specifics', () => {
  it('openStore picks the directory store for file:///abs/dir and reports its URL', async () => {
    const dir = freshDir();
    const store = await openStore(pathToFileURL(dir).href);
    expect(store).toBeInstanceOf(FileStore);
    expect(store.url).toBe(pathToFileURL(dir).href);
    await store.put('code/a.mjs', new Uint8Array([1, 2, 3]));
    expect(await fs.readFile(path.join(dir, 'code', 'a.mjs'))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('a file URL with a host, a query or another scheme fails with STRATA_E_STORE_URL', async () => {
    for (const url of ['file://relative/dir', 'file:///tmp/x?mode=fast', 'ftp://x/y']) {
      await expect(openStore(url)).rejects.toSatisfy(
        (e) => isStrataError(e, 'STRATA_E_STORE_URL') && /file:\/\/\//.test((e as Error).message),
      );
    }
  });

  it('leaves nothing in .partial after puts, failed ones included, and never lists it', async () => {
    const dir = freshDir();
    const store = await FileStore.open(pathToFileURL(dir).href);
    await store.put('master/a.seg', new Uint8Array(10));
    await expect(store.put('master/a.seg', new Uint8Array(10))).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_EXISTS'),
    );
    await expect(
      store.put(
        'master/b.seg',
        (async function* () {
          yield new Uint8Array(5);
          throw new Error('stop');
        })(),
      ),
    ).rejects.toThrow('stop');
    await store.put('views/v/_CURRENT', new Uint8Array(1), { overwrite: true });
    await store.put('views/v/_CURRENT', new Uint8Array(2), { overwrite: true });
    expect(await fs.readdir(path.join(dir, '.partial'))).toEqual([]);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    expect(keys).toEqual(['master/a.seg', 'views/v/_CURRENT']);
  });

  it('a put still works after .partial was removed behind the store', async () => {
    const dir = freshDir();
    const store = await FileStore.open(pathToFileURL(dir).href);
    await fs.rm(path.join(dir, '.partial'), { recursive: true });
    await store.put('tmp/x', new Uint8Array([1, 2]));
    expect((await store.get('tmp/x')).length).toBe(2);
  });

  it('copy is a hard link: the committed object shares the bytes of the staged one', async () => {
    const dir = freshDir();
    const store = await FileStore.open(pathToFileURL(dir).href);
    await store.put('tmp/a/part-0.sv', new Uint8Array(1000));
    await store.copy('tmp/a/part-0.sv', 'views/v/1/part-0.sv');
    const [a, b] = await Promise.all([
      fs.stat(path.join(dir, 'tmp/a/part-0.sv')),
      fs.stat(path.join(dir, 'views/v/1/part-0.sv')),
    ]);
    expect(b.ino).toBe(a.ino);
    expect(b.nlink).toBe(2);
  });

  it('deleting the last object of a tmp/ folder removes the emptied folders, but not tmp/ itself', async () => {
    const dir = freshDir();
    const store = await FileStore.open(pathToFileURL(dir).href);
    await store.put('tmp/job/attempt-1/x', new Uint8Array(1));
    await store.put('tmp/job/keep', new Uint8Array(1));
    await store.delete('tmp/job/attempt-1/x');
    expect(await fs.readdir(path.join(dir, 'tmp/job'))).toEqual(['keep']);
    await store.delete('tmp/job/keep');
    expect(await fs.readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it("deleting a view version's last file removes its folder, but not the view's folder or its _CURRENT", async () => {
    const dir = freshDir();
    const store = await FileStore.open(pathToFileURL(dir).href);
    await store.put('views/pv/v0000000000001-a/part-0.sv', new Uint8Array(1));
    await store.put('views/pv/v0000000000001-a/_MANIFEST.json', new Uint8Array(1));
    await store.put('views/pv/_CURRENT', new Uint8Array(1));
    await store.delete('views/pv/v0000000000001-a/_MANIFEST.json');
    await store.delete('views/pv/v0000000000001-a/part-0.sv');
    expect(await fs.readdir(path.join(dir, 'views/pv'))).toEqual(['_CURRENT']);
    await store.put('views/pv/v0000000000001-a/part-0.sv', new Uint8Array(2)); // the folder comes back on a new put
    expect((await store.stat('views/pv/v0000000000001-a/part-0.sv'))?.size).toBe(2);
  });

  it('one key cannot be both an object and a folder here: the clash fails with STRATA_E_STORE_KEY', async () => {
    const store = await FileStore.open(pathToFileURL(freshDir()).href);
    await store.put('tmp/a', new Uint8Array(1));
    await expect(store.put('tmp/a/b', new Uint8Array(1))).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_KEY'),
    );
    await store.put('tmp/c/d', new Uint8Array(1));
    await expect(store.put('tmp/c', new Uint8Array(1))).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_KEY'),
    );
    await expect(store.get('tmp/c')).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_NOT_FOUND'),
    );
  });

  it('a directory that cannot be created fails with STRATA_E_STORE_UNAVAILABLE naming it', async () => {
    const file = path.join(base, `plain-file-${++n}`);
    await fs.writeFile(file, 'x');
    await expect(FileStore.open(pathToFileURL(path.join(file, 'store')).href)).rejects.toSatisfy(
      (e) => isStrataError(e, 'STRATA_E_STORE_UNAVAILABLE') && (e as Error).message.includes(file),
    );
  });
});
