import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { compareKeys, encodeKey, type KeyPart } from '../../../core/keys/key-codec.ts';
import { BlockCache } from '../../../core/viewfile/block-cache.ts';
import { bytesSource, fileSource } from '../../../core/viewfile/random-access-source.ts';
import { ViewFileReader, type ScanOptions } from '../../../core/viewfile/view-file-reader.ts';
import { fileSink, memorySink } from '../../../core/viewfile/view-file-sink.ts';
import {
  encodeViewFile,
  ViewFileWriter,
  writeViewFile,
} from '../../../core/viewfile/view-file-writer.ts';
import {
  collect,
  entriesArb,
  expectedScan,
  keyArb,
  openInMemory,
  type Entry,
} from './view-file-fixtures.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-viewfile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (k: KeyPart[]) => Buffer.from(encodeKey(k)).toString('hex');

// A bound is either a key present in the file (by index) or any key.
const boundArb = fc.oneof(
  fc.nat().map((at) => ({ at })),
  keyArb.map((key) => ({ key })),
);
const scanSpecArb = fc.record(
  {
    prefix: fc.record({ at: fc.nat(), length: fc.integer({ min: 1, max: 2 }) }),
    start: boundArb,
    end: boundArb,
    after: boundArb,
    limit: fc.integer({ min: 0, max: 60 }),
  },
  { requiredKeys: [] },
);

type ScanSpec = typeof scanSpecArb extends fc.Arbitrary<infer T> ? T : never;
function resolve(spec: ScanSpec, sorted: Entry[]): ScanOptions {
  const pick = (b: { at: number } | { key: KeyPart[] }) =>
    'key' in b ? b.key : sorted[b.at % sorted.length]![0];
  const o: ScanOptions = {};
  if (spec.prefix)
    o.prefix = sorted[spec.prefix.at % sorted.length]![0].slice(0, spec.prefix.length);
  if (spec.start) o.start = pick(spec.start);
  if (spec.end) o.end = pick(spec.end);
  if (spec.after) o.after = pick(spec.after);
  if (spec.limit !== undefined) o.limit = spec.limit;
  return o;
}

/** Which block each entry of the sorted array sits in, from the reader's own index counts. */
function blockOfEntry(reader: ViewFileReader): (i: number) => number {
  const ends: number[] = [];
  let total = 0;
  for (const b of reader.blockInfo()) ends.push((total += b.count));
  return (i) => ends.findIndex((end) => i < end);
}

describe('view files', () => {
  it('lookups and scans agree with a sorted array; a lookup reads at most one block, a scan only the blocks it needs', async () => {
    await fc.assert(
      fc.asyncProperty(
        entriesArb(1500, 3500),
        fc.constantFrom(256, 1024, 4096),
        fc.array(keyArb, { minLength: 200, maxLength: 200 }),
        fc.array(scanSpecArb, { minLength: 40, maxLength: 40 }),
        async (sorted, blockSize, probes, specs) => {
          const { reader } = await openInMemory(sorted, { blockSize });
          expect(reader.count).toBe(sorted.length);
          expect(reader.blocks).toBeGreaterThan(1);
          expect(reader.minKey).toEqual(sorted[0]![0]);
          expect(reader.maxKey).toEqual(sorted.at(-1)![0]);

          for (const [key, value] of sorted) {
            const before = reader.stats.blockReads;
            expect(await reader.get(key)).toEqual(value);
            expect(reader.stats.blockReads - before).toBe(1);
          }
          const present = new Set(sorted.map(([k]) => hex(k)));
          for (const key of probes.filter((k) => !present.has(hex(k)))) {
            const before = reader.stats.blockReads;
            expect(await reader.get(key)).toBeUndefined();
            expect(reader.stats.blockReads - before).toBeLessThanOrEqual(1);
          }

          const blockOf = blockOfEntry(reader);
          const index = new Map(sorted.map(([k], i) => [hex(k), i]));
          for (const spec of specs) {
            const options = resolve(spec, sorted);
            const before = reader.stats.blockReads;
            const got = await collect(reader.scan(options));
            expect(got, JSON.stringify(options)).toEqual(expectedScan(sorted, options));
            // Blocks holding results, plus at most the one where the lower bound was looked for.
            const touched = new Set(got.map(([k]) => blockOf(index.get(hex(k))!)));
            expect(reader.stats.blockReads - before).toBeLessThanOrEqual(touched.size + 1);
          }
        },
      ),
      // Shrinking thousands of entries takes minutes: report the first failure (its seed replays
      // it).
      { numRuns: 6, endOnFailure: true },
    );
  });

  it('paging with limit and after visits every entry of a range exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        entriesArb(800, 1500),
        fc.integer({ min: 1, max: 97 }),
        scanSpecArb,
        async (sorted, pageSize, spec) => {
          const { reader } = await openInMemory(sorted, { blockSize: 512 });
          const { limit: _ignored, after: _after, ...range } = resolve(spec, sorted);
          const pages: Entry[] = [];
          let after: KeyPart[] | undefined;
          for (;;) {
            const page = await collect(
              reader.scan({ ...range, limit: pageSize, ...(after ? { after } : {}) }),
            );
            pages.push(...page);
            if (page.length < pageSize) break;
            after = page.at(-1)![0];
          }
          expect(pages).toEqual(expectedScan(sorted, range));
        },
      ),
      { numRuns: 25, endOnFailure: true },
    );
  });

  it('round-trips through a real file on disk, byte-identical to the streamed encoding', async () => {
    const sorted = fc.sample(entriesArb(20_000, 20_000), { numRuns: 1, seed: 42 })[0]!;
    const path = join(dir, 'part-0.sv');
    const summary = await writeViewFile(sorted, path, {
      metadata: { view: 'pageviews', version: 3, boundary: '2026-11-22T00:00Z' },
    });
    expect(summary).toMatchObject({
      count: sorted.length,
      minKey: sorted[0]![0],
      maxKey: sorted.at(-1)![0],
    });
    expect((await stat(path)).size).toBe(summary.bytes);

    const reader = await ViewFileReader.open(path);
    try {
      expect(reader.count).toBe(sorted.length);
      expect(reader.blocks).toBe(summary.blocks);
      expect(reader.metadata).toEqual({
        view: 'pageviews',
        version: 3,
        boundary: '2026-11-22T00:00Z',
      });
      expect(await collect(reader.entries())).toEqual(sorted);
      for (let i = 0; i < sorted.length; i += 97)
        expect(await reader.get(sorted[i]![0])).toEqual(sorted[i]![1]);
    } finally {
      await reader.close();
    }

    const streamed = Buffer.concat(
      await collect(
        encodeViewFile(sorted, {
          metadata: { view: 'pageviews', version: 3, boundary: '2026-11-22T00:00Z' },
        }),
      ),
    );
    expect(streamed.equals(await readFile(path))).toBe(true);
  });

  it('a file sink never overwrites, and a failed write leaves no partial file', async () => {
    const path = join(dir, 'exists.sv');
    await writeViewFile([[['a'], 1]], path);
    await expect(fileSink(path)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await collect((await ViewFileReader.open(path)).entries())).toEqual([[['a'], 1]]);

    const broken = join(dir, 'broken.sv');
    async function* entries(): AsyncGenerator<[KeyPart[], unknown]> {
      for (let i = 0; i < 5000; i++) yield [['k', i], 'x'.repeat(50)];
      yield [['k', 3], 'late'];
    }
    await expect(writeViewFile(entries(), broken, { blockSize: 1024 })).rejects.toMatchObject({
      code: 'STRATA_E_VIEWFILE_ORDER',
    });
    await expect(stat(broken)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('out-of-order or repeated keys fail with STRATA_E_VIEWFILE_ORDER naming both keys and the position', async () => {
    await fc.assert(
      fc.asyncProperty(entriesArb(2, 300), fc.nat(), fc.boolean(), async (sorted, at, repeat) => {
        const i = 1 + (at % (sorted.length - 1));
        const bad = [...sorted];
        if (repeat)
          bad[i] = sorted[i - 1]!; // the same key twice
        else [bad[i - 1], bad[i]] = [sorted[i]!, sorted[i - 1]!]; // two keys swapped
        const writer = new ViewFileWriter(memorySink(), { blockSize: 256 });
        let err: unknown;
        try {
          for (const [k, v] of bad) await writer.add(k, v);
        } catch (e) {
          err = e;
        }
        expect(isStrataError(err, 'STRATA_E_VIEWFILE_ORDER'), String(err)).toBe(true);
        const message = (err as Error).message;
        expect(message).toContain(`entry ${i} `);
        expect(message).toContain(repeat ? 'repeats' : 'sorts before');
        expect(message).toContain(JSON.stringify(bad[i]![0]).slice(0, 100));
      }),
      { numRuns: 200 },
    );
    const w = new ViewFileWriter(memorySink());
    await w.add(['b'], 1);
    expect(() => w.add([1], 2)).toThrow(/sorts before the previous key \["b"\]/); // numbers sort before strings
  });

  it('an empty view file has no entries and answers every lookup without reading', async () => {
    const { reader, bytes } = await openInMemory([]);
    expect(reader.count).toBe(0);
    expect(reader.blocks).toBe(0);
    expect(reader.minKey).toBeUndefined();
    expect(await reader.get(['x'])).toBeUndefined();
    expect(await collect(reader.entries())).toEqual([]);
    expect(reader.stats.blockReads).toBe(0);
    expect(bytes.length).toBeLessThan(200);
  });

  it('the bloom filter answers about 99% of absent lookups without reading a block', async () => {
    const n = 50_000;
    const sorted: Entry[] = Array.from(
      { length: n },
      (_, i) => [[`/p/${i}`, i % 24], i] as Entry,
    ).sort((a, b) => compareKeys(a[0], b[0]));
    const { reader } = await openInMemory(sorted);
    for (let i = 0; i < n; i++)
      expect(await reader.get([`/p/${i}`, (i % 24) + 0.5])).toBeUndefined();
    const inRange = reader.stats.bloomNegatives + reader.stats.blockReads; // the rest fall outside [minKey, maxKey]
    expect(inRange).toBeGreaterThan(n * 0.99);
    const falsePositiveRate = reader.stats.blockReads / inRange;
    expect(falsePositiveRate).toBeLessThan(0.02);
    expect(falsePositiveRate).toBeGreaterThan(0.002); // the filter is sized for 1%, not larger
  });

  it('a block cache serves repeated lookups without reads and stays within its byte budget', async () => {
    const sorted: Entry[] = Array.from(
      { length: 20_000 },
      (_, i) => [[`/p/${String(i).padStart(6, '0')}`], { i }] as Entry,
    );
    const cache = new BlockCache(64 * 1024);
    const { bytes } = await openInMemory(sorted, { blockSize: 4096 });
    const cached = await ViewFileReader.open(bytesSource(bytes), { cache });
    const blocksHoldingFirst200 = new Set(
      sorted.slice(0, 200).map((_, i) => Math.floor(i / (cached.count / cached.blocks))),
    ).size;
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 200; i++) expect(await cached.get(sorted[i]![0])).toEqual({ i });
    expect(cached.stats.blockReads).toBeLessThanOrEqual(blocksHoldingFirst200 + 1);
    expect(cache.stats.hits).toBeGreaterThanOrEqual(600 - cached.stats.blockReads);
    for (let i = 0; i < sorted.length; i += 7) await cached.get(sorted[i]![0]);
    expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(cache.stats.evictions).toBeGreaterThan(0);
    await cached.close();
    expect(cache.size).toBe(0);
  });

  it('concurrent lookups in one block share a single read', async () => {
    const sorted: Entry[] = Array.from({ length: 100 }, (_, i) => [[i], i] as Entry);
    const { reader } = await openInMemory(sorted);
    const values = await Promise.all(sorted.map(([k]) => reader.get(k)));
    expect(values).toEqual(sorted.map(([, v]) => v));
    expect(reader.blocks).toBe(1);
    expect(reader.stats.blockReads).toBe(1);
  });

  it('values come back as written and are the caller’s own copies', async () => {
    const bin = new Uint8Array([0, 1, 2, 255]);
    const sorted: Entry[] = [
      [['a'], { nested: { list: [1, 'two', null, true] }, bin }],
      [['b'], null],
      [['c'], 2 ** 53 - 1],
    ];
    const { reader } = await openInMemory(sorted);
    const a = (await reader.get('a')) as { bin: Uint8Array };
    expect(a).toEqual(sorted[0]![1]);
    a.bin[0] = 99;
    expect(await reader.get(['a'])).toEqual(sorted[0]![1]);
    expect(await reader.get(['b'])).toBeNull();
    expect(await reader.get(['c'])).toBe(2 ** 53 - 1);
    const w = new ViewFileWriter(memorySink());
    expect(() => w.add(['x'], undefined)).toThrow(/undefined: store null/);
  });

  it('reads through fileSource and bytesSource alike', async () => {
    const sorted: Entry[] = Array.from({ length: 3000 }, (_, i) => [[`k${i}`], i] as Entry).sort(
      (a, b) => compareKeys(a[0], b[0]),
    );
    const path = join(dir, 'sources.sv');
    await writeViewFile(sorted, path, { blockSize: 512 });
    const fromFile = await ViewFileReader.open(await fileSource(path));
    const fromBytes = await ViewFileReader.open(bytesSource(await readFile(path)));
    expect(await collect(fromFile.scan({ start: ['k1'], end: ['k2'] }))).toEqual(
      await collect(fromBytes.scan({ start: ['k1'], end: ['k2'] })),
    );
    await fromFile.close();
  });
});
