import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { compareKeys } from '../../../core/keys/key-codec.ts';
import {
  bytesSource,
  type RandomAccessSource,
} from '../../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../../core/viewfile/view-file-reader.ts';
import { memorySink } from '../../../core/viewfile/view-file-sink.ts';
import { writeViewFile } from '../../../core/viewfile/view-file-writer.ts';
import { collect, type Entry } from './view-file-fixtures.ts';

const sorted: Entry[] = Array.from(
  { length: 800 },
  (_, i) => [[`/page/${i % 40}`, Math.floor(i / 40)], { views: i, name: `n${i}` }] as Entry,
).sort((a, b) => compareKeys(a[0], b[0]));
let file: Uint8Array;
let dir: string;

beforeAll(async () => {
  const sink = memorySink();
  await writeViewFile(sorted, sink, { blockSize: 512, metadata: { view: 'v' } });
  file = sink.bytes();
  dir = await mkdtemp(join(tmpdir(), 'strata-viewfile-corrupt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens and reads everything; returns the error, or undefined when all of it read cleanly. */
async function readAll(source: RandomAccessSource): Promise<unknown> {
  try {
    const reader = await ViewFileReader.open(source);
    await collect(reader.entries());
    for (const [k] of sorted) await reader.get(k);
    return undefined;
  } catch (err) {
    return err;
  }
}

function expectCorrupt(err: unknown, message?: RegExp): void {
  expect(
    isStrataError(err, 'STRATA_E_VIEWFILE_CORRUPT'),
    `expected STRATA_E_VIEWFILE_CORRUPT, got ${String(err)}`,
  ).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('view file corruption', () => {
  it('changing any one byte anywhere is detected as STRATA_E_VIEWFILE_CORRUPT', async () => {
    expect(await readAll(bytesSource(file))).toBeUndefined();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: file.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, mask) => {
          const damaged = file.slice();
          damaged[at]! ^= mask;
          expectCorrupt(await readAll(bytesSource(damaged, 'part-0.sv')), /^part-0\.sv: /);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a damaged block is named with its offset, and only lookups in that block fail', async () => {
    const reader = await ViewFileReader.open(bytesSource(file));
    const blocks = reader.blockInfo();
    const victim = Math.floor(blocks.length / 2);
    const { offset, length } = blocks[victim]!;
    const damaged = file.slice();
    damaged[offset + length - 10]! ^= 0x40;
    const broken = await ViewFileReader.open(bytesSource(damaged, 'views/pv/v1/part-3.sv'));

    let failures = 0;
    for (let i = 0; i < sorted.length; i++) {
      const inVictim =
        blocks.slice(0, victim).reduce((n, b) => n + b.count, 0) <= i &&
        i < blocks.slice(0, victim + 1).reduce((n, b) => n + b.count, 0);
      if (inVictim) {
        await expect(broken.get(sorted[i]![0])).rejects.toThrow(
          `views/pv/v1/part-3.sv: block ${victim} at offset ${offset} (${length} bytes) failed its CRC32 check`,
        );
        failures++;
      } else {
        expect(await broken.get(sorted[i]![0])).toEqual(sorted[i]![1]);
      }
    }
    expect(failures).toBe(blocks[victim]!.count);
  });

  it('a file cut short at any length is refused on open', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: file.length - 1 }), async (length) => {
        let err: unknown;
        try {
          await ViewFileReader.open(bytesSource(file.subarray(0, length)));
        } catch (e) {
          err = e;
        }
        expectCorrupt(err);
      }),
      { numRuns: 200 },
    );
  });

  it('a source that returns fewer bytes than it claims is reported as truncated', async () => {
    const inner = bytesSource(file);
    // Block 0 starts right after the 16-byte header; every other read is served in full.
    const shortReads: RandomAccessSource = {
      size: file.length,
      name: 'flaky.sv',
      read: async (o, n) => (await inner.read(o, n)).subarray(0, o === 16 ? n - 1 : n),
    };
    const flaky = await ViewFileReader.open(shortReads);
    await expect(flaky.get(sorted[0]![0])).rejects.toThrow(
      /flaky\.sv: block 0 at offset 16 is truncated: read \d+ of \d+ bytes/,
    );
  });

  it('files that are not view files are refused with a message saying so', async () => {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty.sv', new Uint8Array(0), /too short to be a view file/],
      [
        'json.sv',
        new TextEncoder().encode(JSON.stringify({ hello: 'world', padding: 'x'.repeat(100) })),
        /no view file trailer .*missing magic/,
      ],
      ['appended.sv', new Uint8Array([...file, 0, 1, 2]), /no view file trailer/],
      [
        'random.sv',
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251),
        /no view file trailer/,
      ],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, name);
      await writeFile(path, bytes);
      let err: unknown;
      try {
        await ViewFileReader.open(path);
      } catch (e) {
        err = e;
      }
      expectCorrupt(err, message);
      expect((err as Error).message).toContain(path);
    }
    // The intact file on disk still opens.
    const path = join(dir, 'good.sv');
    await writeFile(path, file);
    const reader = await ViewFileReader.open(path);
    expect(await collect(reader.entries())).toEqual(sorted);
    expect(reader.metadata).toEqual({ view: 'v' });
    await reader.close();
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(file))).toBe(true);
  });
});
