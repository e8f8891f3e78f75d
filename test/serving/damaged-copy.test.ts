/**
 * A view server verifies every block of a version's local copy while loading it, so damage is
 * found before the swap (the version in service stays) instead of failing requests afterwards.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { isStrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { currentKey, manifestKey, partKey } from '../../core/views/view-layout.ts';
import { BlockCache } from '../../core/viewfile/block-cache.ts';
import { bytesSource } from '../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../core/viewfile/view-file-reader.ts';
import { LoadedVersion } from '../../serving/loaded-version.ts';
import { startViewServer } from '../../serving/start-view-server.ts';
import { publishView, type Row } from '../cli/fixtures/publish-view.ts';

const version = (n: number) => `v${String(n).padStart(13, '0')}-dmg`;
const rows = (n: number): Row[] => Array.from({ length: 2000 }, (_, i) => [[`k${i % 100}`, i], n]);

let dir: string;
let store: ObjectStore;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-damaged-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Publishes version n of `view` with one byte of a data block in the middle of part 1 flipped. */
async function publishDamaged(view: string, n: number): Promise<{ block: number; offset: number }> {
  const source = await publishView(store, `${view}-src`, rows(n), {
    partitions: 2,
    version: version(n),
  });
  const part1 = await store.get(partKey(`${view}-src`, version(n), 1));
  const blocks = (await ViewFileReader.open(bytesSource(part1))).blockInfo();
  const block = Math.floor(blocks.length / 2);
  const { offset, length } = blocks[block]!;
  const damaged = part1.slice();
  damaged[offset + length - 20]! ^= 0x08;
  await store.put(
    partKey(view, version(n), 0),
    await store.get(partKey(`${view}-src`, version(n), 0)),
  );
  await store.put(partKey(view, version(n), 1), damaged);
  const manifest = {
    ...source,
    view,
    parts: source.parts.map((p) => ({ ...p, key: partKey(view, version(n), p.partition) })),
  };
  await store.put(
    manifestKey(view, version(n)),
    new TextEncoder().encode(JSON.stringify(manifest)),
  );
  await store.put(
    currentKey(view),
    new TextEncoder().encode(JSON.stringify({ version: version(n) })),
    { overwrite: true },
  );
  return { block, offset };
}

it('loading a version with a damaged block fails naming the part, block and offset, and leaves no local copy', async () => {
  const { block, offset } = await publishDamaged('direct', 2);
  const loadDir = path.join(dir, 'direct-load');
  const err = await LoadedVersion.load({
    store,
    view: 'direct',
    version: version(2),
    dir: loadDir,
    cache: new BlockCache(1 << 20),
  }).catch((e: unknown) => e);
  expect(isStrataError(err, 'STRATA_E_VIEWFILE_CORRUPT'), String(err)).toBe(true);
  expect((err as Error).message).toContain(`part-1.sv: block ${block} at offset ${offset}`);
  expect((err as Error).message).toContain('failed its CRC32 check');
  await expect(readdir(loadDir)).rejects.toMatchObject({ code: 'ENOENT' });
});

it('a version whose copy has a damaged block is not swapped in: the version in service keeps answering every key', async () => {
  await publishView(store, 'swap', rows(1), { partitions: 2, version: version(1) });
  const config = loadConfig({
    env: {},
    cwd: dir,
    overrides: { store: `file://${path.join(dir, 'store')}`, servePort: 0, servePollMs: 100 },
  });
  const server = await startViewServer(config, { store, redisUrl: '' });
  try {
    await publishDamaged('swap', 2);
    await expect
      .poll(
        async () =>
          (await server.metrics.swapFailures.get()).values.find((v) => v.labels.view === 'swap')
            ?.value ?? 0,
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
    for (let i = 0; i < 2000; i += 37) {
      const res = await fetch(`${server.url}/v1/views/swap/get/k${i % 100}/${i}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ version: version(1), value: 1 });
    }
  } finally {
    await server.stop();
  }
});
