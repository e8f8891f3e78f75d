/**
 * Job and task bundles on a worker's disk: fetched once from the store, checked against their
 * content address, then imported by threads from a local file.
 *
 *   const code = new CodeCache(store, '/work/w1/code');
 *   const file = await code.ensure(task.codeHash);   // '/work/w1/code/<sha256>.mjs', verified
 *   // in a thread: await import(pathToFileURL(file).href)
 *
 * A bundle is `code/<sha256>.mjs` in the store. Its bytes must hash to its name, or the task
 * fails with STRATA_E_BUNDLE (not retryable: the stored object will not change). A file already
 * in the cache is hashed again once per process before it is trusted, so a damaged cache heals.
 * Concurrent requests for one hash share one download. Files are written under a temporary name
 * and renamed, so a thread never imports half a bundle.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isStrataError, StrataError } from '../errors.ts';
import type { ObjectStore } from '../store/store.ts';

const CODE_HASH = /^[0-9a-f]{64}$/;

export function bundleKey(codeHash: string): string {
  return `code/${codeHash}.mjs`;
}

export class CodeCache {
  readonly #store: ObjectStore;
  readonly #dir: string;
  readonly #ready = new Map<string, Promise<string>>();

  constructor(store: ObjectStore, dir: string) {
    this.#store = store;
    this.#dir = dir;
  }

  /** The local path of the verified bundle `codeHash`. */
  ensure(codeHash: string): Promise<string> {
    let ready = this.#ready.get(codeHash);
    if (!ready) {
      ready = this.#load(codeHash);
      this.#ready.set(codeHash, ready);
      // A failure is not cached: the next task asks again (the store may have been down).
      ready.catch(() => this.#ready.delete(codeHash));
    }
    return ready;
  }

  async #load(codeHash: string): Promise<string> {
    if (!CODE_HASH.test(codeHash)) {
      throw new StrataError(
        'STRATA_E_BUNDLE',
        `code hash ${JSON.stringify(codeHash)} is not a sha256 in lowercase hex; the task payload is damaged or was not made by strata submit`,
        { details: { codeHash } },
      );
    }
    const file = path.join(this.#dir, `${codeHash}.mjs`);
    const cached = await readFile(file).catch(() => undefined);
    if (cached && sha256(cached) === codeHash) return file;

    const key = bundleKey(codeHash);
    let bytes: Uint8Array;
    try {
      bytes = await this.#store.get(key);
    } catch (err) {
      if (isStrataError(err, 'STRATA_E_STORE_NOT_FOUND')) {
        throw new StrataError(
          'STRATA_E_BUNDLE',
          `the bundle ${key} is not in the store ${this.#store.url}; submit the job again (strata submit uploads its bundle)`,
          { details: { key, codeHash }, cause: err },
        );
      }
      throw err;
    }
    const actual = sha256(bytes);
    if (actual !== codeHash) {
      throw new StrataError(
        'STRATA_E_BUNDLE',
        `the bundle ${key} in ${this.#store.url} has sha256 ${actual}, not the ${codeHash} it is named after: the stored object is damaged; submit the job again`,
        {
          details: { key, expected: codeHash, actual },
        },
      );
    }
    await mkdir(this.#dir, { recursive: true });
    const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return file;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
