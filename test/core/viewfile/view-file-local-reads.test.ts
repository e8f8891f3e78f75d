/**
 * Reading a view file from a local file, as the view server does: synchronous preads into a
 * shared buffer, a block cache that reuses its buffers, and checksums verified once at open.
 */
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { encodeKey, type KeyPart } from '../../../core/keys/key-codec.ts';
import { BlockCache } from '../../../core/viewfile/block-cache.ts';
import { bytesSource } from '../../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../../core/viewfile/view-file-reader.ts';
import { writeViewFile } from '../../../core/viewfile/view-file-writer.ts';
import { collect, entriesArb, expectedScan, keyArb, type Entry } from './view-file-fixtures.ts';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-viewfile-local-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeFile_(entries: Entry[], blockSize = 256): Promise<string> {
  const path = join(dir, `f${++n}.sv`);
  await writeViewFile(entries, path, { blockSize });
  return path;
}

const rows = (count: number): Entry[] =>
  Array.from(
    { length: count },
    (_, i) =>
      [
        [`/p/${String(Math.floor(i / 24)).padStart(5, '0')}`, i % 24],
        { i, pad: 'x'.repeat(i % 40) },
      ] as Entry,
  );

function expectCorrupt(err: unknown, message: RegExp): void {
  expect(
    isStrataError(err, 'STRATA_E_VIEWFILE_CORRUPT'),
    `expected STRATA_E_VIEWFILE_CORRUPT, got ${String(err)}`,
  ).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('view files read from a local file', () => {
  it('lookups and scans from a local file, through a small shared cache, agree with the sorted entries while scans are held open across lookups that churn the cache', async () => {
    await fc.assert(
      fc.asyncProperty(
        entriesArb(1, 300),
        fc.array(keyArb, { maxLength: 40 }),
        fc.nat(),
        async (sorted, absentish, seed) => {
          const path = await writeFile_(sorted);
          // Room for two or three blocks: nearly every lookup evicts one and reuses its buffer.
          const cache = new BlockCache(3 * 1024);
          const reader = await ViewFileReader.open(path, {
            cache,
            checkBlocks: seed % 2 === 0 ? 'at-open' : 'each-read',
          });
          try {
            const present = new Map(
              sorted.map(([k, v]) => [Buffer.from(encodeKey(k)).toString('hex'), v]),
            );
            const probe = async (k: KeyPart[]) =>
              expect(await reader.get(k)).toEqual(
                present.get(Buffer.from(encodeKey(k)).toString('hex')),
              );
            // A scan paused after every entry while lookups all over the file run: the scan's block
            // must never be one the cache hands to another block.
            const scanned: Entry[] = [];
            let step = seed;
            for await (const e of reader.scan()) {
              scanned.push(e);
              for (let j = 0; j < 3; j++)
                await probe(
                  sorted[(step = (step * 1103515245 + 12345) % 2 ** 31) % sorted.length]![0],
                );
            }
            expect(scanned).toEqual(expectedScan(sorted, {}));
            for (const k of absentish) await probe(k);
            expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
          } finally {
            await reader.close();
          }
          expect(cache.size).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a cached block handed to a scan is its own copy: lookups that evict and refill the cache leave the scan intact', async () => {
    const sorted = rows(2000);
    const path = await writeFile_(sorted, 512);
    const cache = new BlockCache(4 * 1024);
    const reader = await ViewFileReader.open(path, { cache });
    // Warm the cache with the blocks the scan will start in, so the scan gets them from the cache.
    for (let i = 0; i < 30; i++) await reader.get(sorted[i]![0]);
    const hitsBefore = cache.stats.hits;
    const out: Entry[] = [];
    for await (const e of reader.scan({ limit: 300 })) {
      out.push(e);
      for (let j = 0; j < 2; j++)
        await reader.get(sorted[(out.length * 97 + j * 541) % sorted.length]![0]);
    }
    expect(cache.stats.hits).toBeGreaterThan(hitsBefore);
    expect(cache.stats.evictions).toBeGreaterThan(100);
    expect(out).toEqual(sorted.slice(0, 300));
    await reader.close();
  });

  it("checkBlocks 'at-open' reads the file through at open and refuses one with any damaged block, naming it", async () => {
    const sorted = rows(1500);
    const path = await writeFile_(sorted, 1024);
    const clean = await ViewFileReader.open(path, { checkBlocks: 'at-open' });
    const blocks = clean.blockInfo();
    expect(clean.stats.blockReads).toBe(0); // verifying is not counted as lookups' block reads
    expect(await clean.get(sorted[777]![0])).toEqual(sorted[777]![1]);
    await clean.close();
    const bytes = await readFile(path);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: blocks.length - 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (b, at, mask) => {
          const { offset, length } = blocks[b]!;
          const damaged = Buffer.from(bytes);
          damaged[offset + 8 + (at % (length - 8))]! ^= mask; // inside the payload, past the frame header
          const broken = join(dir, `broken-${++n}.sv`);
          await writeFile(broken, damaged);
          const err = await ViewFileReader.open(broken, { checkBlocks: 'at-open' }).then(
            (r) => r.close().then(() => undefined),
            (e: unknown) => e,
          );
          expectCorrupt(
            err,
            new RegExp(
              `block ${b} at offset ${offset} \\(${length} bytes\\) failed its CRC32 check`,
            ),
          );
          // Without the check at open, the same file opens and only the damaged block fails later.
          const lazy = await ViewFileReader.open(broken);
          try {
            expectCorrupt(
              await lazy.get(blocks[b]!.firstKey).catch((e: unknown) => e),
              /failed its CRC32 check/,
            );
          } finally {
            await lazy.close();
          }
          await rm(broken);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a local file cut short after opening fails its lookups as truncated; a damaged block a scan prefetches fails only when the scan reaches it', async () => {
    const sorted = rows(3000);
    const path = await writeFile_(sorted, 1024);
    const reader = await ViewFileReader.open(path);
    const blocks = reader.blockInfo();
    const last = blocks.length - 1;
    await truncate(path, blocks[last]!.offset + 10);
    const lastKey = sorted[sorted.length - 1]![0];
    await expect(reader.get(lastKey)).rejects.toSatisfy((e) => {
      expectCorrupt(
        e,
        new RegExp(
          `block ${last} at offset ${blocks[last]!.offset} is truncated: read 10 of ${blocks[last]!.length} bytes`,
        ),
      );
      return true;
    });
    await reader.close();

    const bytes = await readFile(await writeFile_(sorted, 1024));
    const damaged = Buffer.from(bytes);
    damaged[blocks[1]!.offset + 20]! ^= 0x10;
    const broken = join(dir, 'prefetch.sv');
    await writeFile(broken, damaged);
    const scanning = await ViewFileReader.open(broken);
    const seen: Entry[] = [];
    const err = await (async () => {
      for await (const e of scanning.scan()) seen.push(e);
    })().catch((e: unknown) => e);
    expectCorrupt(err, /block 1 at offset \d+ \(\d+ bytes\) failed its CRC32 check/);
    expect(seen).toEqual(sorted.slice(0, blocks[0]!.count)); // every entry of block 0 came first
    await scanning.close();
  });

  it('a block cache counts its buffers against its budget and gives each reader its blocks back on close', async () => {
    const sorted = rows(5000);
    const cache = new BlockCache(40 * 1024);
    const a = await ViewFileReader.open(await writeFile_(sorted, 2048), { cache });
    const b = await ViewFileReader.open(
      bytesSource(await readFile(await writeFile_(sorted, 2048))),
      { cache },
    );
    for (let i = 0; i < sorted.length; i += 13) {
      expect(await a.get(sorted[i]![0])).toEqual(sorted[i]![1]);
      expect(await b.get(sorted[(i * 7) % sorted.length]![0])).toEqual(
        sorted[(i * 7) % sorted.length]![1],
      );
      expect(cache.bytes).toBeLessThanOrEqual(40 * 1024);
    }
    expect(cache.stats.evictions).toBeGreaterThan(0);
    const held = cache.size;
    await a.close();
    expect(cache.size).toBeLessThan(held);
    expect(cache.size).toBeGreaterThan(0);
    await b.close();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('the block cache keeps a block on its second read: lookups spread over many blocks copy nothing in, a hot block gets in, and a scan through the file leaves it', async () => {
    const sorted = rows(5000);
    const cache = new BlockCache(8 * 1024);
    const reader = await ViewFileReader.open(await writeFile_(sorted, 256), {
      cache,
      checkBlocks: 'at-open',
    });
    expect(reader.blocks).toBeGreaterThan(300);
    const hot = sorted[2500]!;
    // Spread: one lookup in each of 300 different blocks (the first key of each), none read twice.
    const firstKeys = reader.blockInfo().map((b) => b.firstKey);
    for (let b = 0; b < 300; b++) expect(await reader.get(firstKeys[b]!)).toBeDefined();
    expect(cache.size).toBe(0);
    expect(cache.stats.notAdmitted).toBeGreaterThanOrEqual(200);
    // Hot: read twice, then answered from the cache.
    expect(await reader.get(hot[0])).toEqual(hot[1]);
    expect(await reader.get(hot[0])).toEqual(hot[1]);
    expect(cache.size).toBe(1);
    const reads = reader.stats.blockReads;
    for (let i = 0; i < 20; i++) expect(await reader.get(hot[0])).toEqual(hot[1]);
    expect(reader.stats.blockReads).toBe(reads);
    // A whole scan reads every block once: none of them gets in, the hot one stays.
    expect((await collect(reader.scan())).length).toBe(sorted.length);
    const hits = cache.stats.hits;
    expect(await reader.get(hot[0])).toEqual(hot[1]);
    expect(cache.stats.hits).toBe(hits + 1);
    expect(cache.stats.evictions).toBe(0);
    await reader.close();
  });
});
