/**
 * Bundles on a worker: fetched from code/<sha256>.mjs once, checked against their name, cached
 * on disk, and loaded as modules whose default export is the job.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, type StrataError } from '../../../core/errors.ts';
import type { ObjectStore } from '../../../core/store/store.ts';
import { CodeCache } from '../../../core/code/code-cache.ts';
import { exportOf, importBundle, jobOf } from '../../../core/code/load-bundle.ts';
import {
  bundleJob,
  fixture,
  tempStore,
  type Bundle,
  type TempStore,
} from '../../worker/support/worker-fixtures.ts';

let t: TempStore;
let bundle: Bundle;
beforeAll(async () => {
  t = await tempStore();
  bundle = await bundleJob(t.store, fixture('plain-tasks.ts'));
});
afterAll(() => t?.cleanup());

/** The store, counting reads of code/. */
function counting(store: ObjectStore): { store: ObjectStore; gets: () => number } {
  let gets = 0;
  return {
    store: new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'get')
          return (key: string, range?: unknown) => (gets++, target.get(key, range as undefined));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }),
    gets: () => gets,
  };
}

async function failure(p: Promise<unknown>): Promise<StrataError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStrataError(err), String(err)).toBe(true);
  return err as StrataError;
}

describe('CodeCache', () => {
  it('fetches a bundle once, stores it under its hash and hands out the same verified file', async () => {
    const { store, gets } = counting(t.store);
    const cache = new CodeCache(store, path.join(t.dir, 'code-a'));
    const [a, b] = await Promise.all([
      cache.ensure(bundle.codeHash),
      cache.ensure(bundle.codeHash),
    ]);
    expect(a).toBe(b);
    expect(a).toBe(path.join(t.dir, 'code-a', `${bundle.codeHash}.mjs`));
    expect(
      createHash('sha256')
        .update(await readFile(a))
        .digest('hex'),
    ).toBe(bundle.codeHash);
    await cache.ensure(bundle.codeHash);
    expect(gets()).toBe(1);
    // A new process finds the file on disk and does not fetch it again.
    const again = counting(t.store);
    expect(
      await new CodeCache(again.store, path.join(t.dir, 'code-a')).ensure(bundle.codeHash),
    ).toBe(a);
    expect(again.gets()).toBe(0);
  });

  it('replaces a damaged cached file with the stored bundle', async () => {
    const dir = path.join(t.dir, 'code-b');
    const file = await new CodeCache(t.store, dir).ensure(bundle.codeHash);
    await writeFile(file, 'export default "tampered";\n');
    expect(await new CodeCache(t.store, dir).ensure(bundle.codeHash)).toBe(file);
    expect(Buffer.compare(await readFile(file), Buffer.from(bundle.bytes))).toBe(0);
  });

  it('refuses a stored bundle whose sha256 is not its name, a missing bundle and a malformed hash with STRATA_E_BUNDLE', async () => {
    const fake = 'cd'.repeat(32);
    await t.store.put(`code/${fake}.mjs`, new TextEncoder().encode('export default 2;\n'));
    const cache = new CodeCache(t.store, path.join(t.dir, 'code-c'));
    const mismatch = await failure(cache.ensure(fake));
    expect(mismatch.code).toBe('STRATA_E_BUNDLE');
    expect(mismatch.retryable).toBe(false);
    expect(mismatch.details).toMatchObject({ key: `code/${fake}.mjs`, expected: fake });
    expect(mismatch.message).toMatch(
      new RegExp(`has sha256 [0-9a-f]{64}, not the ${fake} it is named after`),
    );

    const missing = await failure(cache.ensure('0'.repeat(64)));
    expect(missing.code).toBe('STRATA_E_BUNDLE');
    expect(missing.message).toContain('is not in the store');

    expect((await failure(cache.ensure('../../../etc/passwd'))).code).toBe('STRATA_E_BUNDLE');
  });
});

describe('loading a bundle', () => {
  it('gives the default export as the job and named exports as functions', async () => {
    const file = await new CodeCache(t.store, path.join(t.dir, 'code-d')).ensure(bundle.codeHash);
    const mod = await importBundle(file, bundle.codeHash);
    expect(jobOf(mod, bundle.codeHash).name).toBe('plain-tasks');
    expect(exportOf(mod, 'add', bundle.codeHash)(2, 3)).toBe(5);
    const missing = (() => {
      try {
        exportOf(mod, 'nope', bundle.codeHash);
      } catch (err) {
        return err as StrataError;
      }
    })();
    expect(missing?.code).toBe('STRATA_E_BUNDLE');
    expect(missing?.message).toMatch(/its exported functions are: .*add.*boom/);
  });

  it('refuses a module without a job as its default export, and one that throws while it loads', async () => {
    const err = (() => {
      try {
        return jobOf({ default: { name: 'x' }, x: 1 }, 'h');
      } catch (e) {
        return e as StrataError;
      }
    })() as StrataError;
    expect(err.code).toBe('STRATA_E_BUNDLE');
    expect(err.message).toContain('export default defineJob');

    const broken = path.join(t.dir, 'broken.mjs');
    await writeFile(broken, 'throw new Error("top-level failure");\n');
    const loadErr = await failure(importBundle(broken, 'h'));
    expect(loadErr.code).toBe('STRATA_E_BUNDLE');
    expect(loadErr.message).toContain('top-level failure');
  });
});
