import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import {
  openRunFile,
  writeRunFile,
  type RunEntry,
  type ShuffleEntry,
} from '../../../worker/shuffle/run-file.ts';
import { sortedEntries } from './helpers.ts';

async function readAll(file: string, partition: number): Promise<ShuffleEntry[]> {
  const run = await openRunFile(file);
  try {
    const out: ShuffleEntry[] = [];
    for await (const batch of run.entries(partition)) out.push(...batch);
    return out;
  } finally {
    await run.close();
  }
}

async function* slowly(entries: Iterable<RunEntry>): AsyncGenerator<RunEntry> {
  for (const e of entries) yield e;
}

describe('run file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-run-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads back every entry of every partition, in order, including empty partitions', async () => {
    const counts = [1000, 0, 5000, 1, 0];
    const file = path.join(dir, 'a.run');
    const summary = await writeRunFile(file, slowly(sortedEntries(counts)), {
      partitions: 6,
      batchBytes: 16 * 1024,
    });
    expect(summary.records).toBe(6001);
    expect(summary.partitions.map((p) => p.records)).toEqual([1000, 0, 5000, 1, 0, 0]);
    expect(summary.bytes).toBe((await stat(file)).size);
    const expected = [...sortedEntries(counts)];
    for (let p = 0; p < 6; p++) {
      const got = await readAll(file, p);
      const want = expected.filter(([q]) => q === p).map(([, k, v]) => [k, v]);
      expect(got.length).toBe(want.length);
      expect(got.map(([k, v]) => Buffer.concat([k, Buffer.from('|'), v]).toString('hex'))).toEqual(
        want.map(([k, v]) => Buffer.concat([k!, Buffer.from('|'), v!]).toString('hex')),
      );
    }
    // Several batches per partition, each within about batchBytes.
    expect(summary.partitions[2]!.batches).toBeGreaterThan(10);
    expect(await readdir(dir)).toEqual(['a.run']); // no temporary file left behind
  });

  it('any sorted entries round-trip exactly (property)', async () => {
    const entry = fc.tuple(
      fc.integer({ min: 0, max: 3 }),
      fc.uint8Array({ maxLength: 12 }),
      fc.uint8Array({ maxLength: 300 }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 300 }),
        fc.integer({ min: 1, max: 2048 }),
        async (raw, batchBytes) => {
          const entries = raw
            .map(([p, k, v]) => [p, k, v] as RunEntry)
            .sort(([p1, k1], [p2, k2]) => p1 - p2 || Buffer.compare(k1, k2));
          const file = path.join(dir, `prop-${n++}.run`);
          await writeRunFile(file, entries, { partitions: 4, batchBytes });
          for (let p = 0; p < 4; p++) {
            const got = (await readAll(file, p)).map(([k, v]) => [
              Buffer.from(k).toString('hex'),
              Buffer.from(v).toString('hex'),
            ]);
            const want = entries
              .filter(([q]) => q === p)
              .map(([, k, v]) => [Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex')]);
            expect(got).toEqual(want);
          }
          await rm(file);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('batches() can start at a later batch', async () => {
    const file = path.join(dir, 'skip.run');
    await writeRunFile(file, sortedEntries([3000]), { partitions: 1, batchBytes: 8 * 1024 });
    const run = await openRunFile(file);
    try {
      const all = [];
      for await (const b of run.batches(0)) all.push(b);
      const tail = [];
      for await (const b of run.batches(0, { startBatch: 5 })) tail.push(b);
      expect(tail.map((b) => b.index)).toEqual(all.slice(5).map((b) => b.index));
      expect(tail[0]!.bytes.equals(all[5]!.bytes)).toBe(true);
    } finally {
      await run.close();
    }
  });

  it('keys out of order are refused and leave no file', async () => {
    const file = path.join(dir, 'bad-order.run');
    const entries: RunEntry[] = [
      [0, Buffer.from('b'), Buffer.from('1')],
      [0, Buffer.from('a'), Buffer.from('2')],
    ];
    const err = await writeRunFile(file, entries, { partitions: 1 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_INTERNAL')).toBe(true);
    expect((await readdir(dir)).filter((f) => f.startsWith('bad-order'))).toEqual([]);
  });

  it('partitions going backwards or out of range are refused', async () => {
    const back: RunEntry[] = [
      [1, Buffer.from('a'), Buffer.from('')],
      [0, Buffer.from('b'), Buffer.from('')],
    ];
    expect(
      isStrataError(
        await writeRunFile(path.join(dir, 'back.run'), back, { partitions: 2 }).catch(
          (e: unknown) => e,
        ),
        'STRATA_E_INTERNAL',
      ),
    ).toBe(true);
    const over: RunEntry[] = [[2, Buffer.from('a'), Buffer.from('')]];
    expect(
      isStrataError(
        await writeRunFile(path.join(dir, 'over.run'), over, { partitions: 2 }).catch(
          (e: unknown) => e,
        ),
        'STRATA_E_INTERNAL',
      ),
    ).toBe(true);
  });

  it('a flipped byte in a batch fails with STRATA_E_RUN_FILE_CORRUPT naming the file', async () => {
    const file = path.join(dir, 'flip.run');
    await writeRunFile(file, sortedEntries([2000]), { partitions: 1, batchBytes: 8 * 1024 });
    const fh = await open(file, 'r+');
    const at = 20_000;
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] ^= 0x40;
    await fh.write(one, 0, 1, at);
    await fh.close();
    const err = await readAll(file, 0).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_RUN_FILE_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(file);
  });

  it('a truncated file, or one that is not a run file, fails with STRATA_E_RUN_FILE_CORRUPT on open', async () => {
    const file = path.join(dir, 'cut.run');
    await writeRunFile(file, sortedEntries([500]), { partitions: 1 });
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 5));
    expect(
      isStrataError(await openRunFile(file).catch((e: unknown) => e), 'STRATA_E_RUN_FILE_CORRUPT'),
    ).toBe(true);
    await writeFile(file, 'hello, this is not a run file at all');
    expect(
      isStrataError(await openRunFile(file).catch((e: unknown) => e), 'STRATA_E_RUN_FILE_CORRUPT'),
    ).toBe(true);
  });
});
