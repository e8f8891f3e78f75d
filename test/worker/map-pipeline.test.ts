/**
 * The map side's sort / combine / spill / merge pipeline as a pure unit: whatever the emitted
 * keys and values and wherever the spills fall, the map output is sorted by key bytes within
 * each partition, every key sits in its partition, and its value equals a plain group-by.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, defineJob, sum, type Key, type KeyPart } from 'strata';
import { decodeKey, encodeKey } from '../../core/keys/key-codec.ts';
import { partitionOf } from '../../core/keys/partition.ts';
import { JobErrors } from '../../worker/job-errors.ts';
import { approxBytes } from '../../worker/map/approx-bytes.ts';
import { MapBuffer, runEntries } from '../../worker/map/map-buffer.ts';
import { mergeRuns } from '../../worker/map/merge-runs.ts';
import { shuffleCombiner } from '../../worker/map/shuffle-combiner.ts';
import { openRunFile, writeRunFile, type RunFileReader } from '../../worker/shuffle/run-file.ts';
import { unpackValue } from '../../worker/shuffle-value.ts';

const PARTITIONS = 3;
const jobs = {
  aggregate: defineJob({
    name: 'agg',
    input: { dataset: 'd' },
    map: () => {},
    aggregate: sum(),
    partitions: PARTITIONS,
  }),
  combine: defineJob({
    name: 'comb',
    input: { dataset: 'd' },
    map: () => {},
    combine: (_k, vs: readonly number[]) => vs.reduce((a, b) => a + b, 0),
    reduce: (_k, vs: readonly number[]) => vs.reduce((a, b) => a + b, 0),
    partitions: PARTITIONS,
  }),
  list: defineJob({
    name: 'list',
    input: { dataset: 'd' },
    map: () => {},
    reduce: (_k, vs) => vs,
    partitions: PARTITIONS,
  }),
};
type Kind = keyof typeof jobs;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-map-pipeline-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let runs = 0;
/**
 * Feeds emits through a MapBuffer, spilling after the given emit indices, and returns the merged
 * map output per partition.
 */
async function pipeline(
  kind: Kind,
  emits: [Key, number][],
  spillAfter: Set<number>,
): Promise<Array<Array<[Buffer, unknown]>>> {
  const job = jobs[kind] as Parameters<typeof shuffleCombiner>[0];
  const combiner = shuffleCombiner(job, new JobErrors(job));
  const buffer = new MapBuffer(combiner, PARTITIONS);
  const spills: string[] = [];
  const where = () => 'a test record';
  for (let i = 0; i < emits.length; i++) {
    const [key, value] = emits[i]!;
    buffer.add(encodeKey(key), key[0]!, value, where);
    if (spillAfter.has(i)) {
      const file = path.join(dir, `spill-${runs++}.run`);
      await writeRunFile(file, runEntries(buffer.drain()), { partitions: PARTITIONS });
      spills.push(file);
    }
  }
  const output = path.join(dir, `out-${runs++}.run`);
  const readers: RunFileReader[] = [];
  for (const s of spills) readers.push(await openRunFile(s));
  await writeRunFile(output, mergeRuns(readers, buffer.drain(), combiner, PARTITIONS), {
    partitions: PARTITIONS,
    batchBytes: 64,
  });
  await Promise.all(readers.map((r) => r.close()));
  const out = await openRunFile(output);
  const result: Array<Array<[Buffer, unknown]>> = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const entries: Array<[Buffer, unknown]> = [];
    for await (const batch of out.entries(p))
      for (const [k, v] of batch) entries.push([Buffer.from(k), unpackValue(v)]);
    result.push(entries);
  }
  await out.close();
  await Promise.all([output, ...spills].map((f) => rm(f)));
  return result;
}

const keyPart: fc.Arbitrary<KeyPart> = fc.oneof(
  fc.constantFrom('a', 'b', 'ab', '', 'é', 'a\u0000b', 'zz'),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(0.5, -1e9),
);
const emitsArb = fc.array(
  fc.tuple(
    fc.array(keyPart, { minLength: 1, maxLength: 3 }),
    fc.integer({ min: -1000, max: 1000 }),
  ),
  { maxLength: 150 },
);

describe('map pipeline (buffer → sorted spills → merged output)', () => {
  for (const kind of Object.keys(jobs) as Kind[]) {
    it(`${kind}: output is sorted per partition, keys are in their partition, values equal a plain group-by, wherever the spills fall`, async () => {
      await fc.assert(
        fc.asyncProperty(
          emitsArb,
          fc.array(fc.nat({ max: 150 }), { maxLength: 6 }),
          async (emits, spillPoints) => {
            const expected = new Map<string, number[]>();
            for (const [key, value] of emits) {
              const id = Buffer.from(encodeKey(key)).toString('hex');
              expected.set(id, [...(expected.get(id) ?? []), value]);
            }
            const output = await pipeline(kind, emits as [Key, number][], new Set(spillPoints));
            const seen = new Map<string, unknown[]>();
            output.forEach((entries, p) => {
              for (let i = 0; i < entries.length; i++) {
                const [key, value] = entries[i]!;
                if (i > 0)
                  expect(Buffer.compare(entries[i - 1]![0], key), 'sorted').toBeLessThanOrEqual(
                    kind === 'list' ? 0 : -1,
                  );
                expect(partitionOf(decodeKey(key), PARTITIONS)).toBe(p);
                const id = key.toString('hex');
                seen.set(id, [
                  ...(seen.get(id) ?? []),
                  ...(kind === 'aggregate' ? [value] : (value as number[])),
                ]);
              }
            });
            expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
            for (const [id, values] of expected) {
              const got = seen.get(id)!;
              if (kind === 'list') expect(got).toEqual(values);
              else if (kind === 'combine') expect(got).toEqual([values.reduce((a, b) => a + b, 0)]);
              else expect(got).toEqual([values.reduce((a, b) => a + b, 0)]);
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('counts a key once per spill and merges the spilled accumulators (count(), 4 spills)', async () => {
    const job = defineJob({
      name: 'c',
      input: { dataset: 'd' },
      map: () => {},
      aggregate: count(),
      partitions: PARTITIONS,
    });
    const combiner = shuffleCombiner(
      job as Parameters<typeof shuffleCombiner>[0],
      new JobErrors(job),
    );
    const buffer = new MapBuffer(combiner, PARTITIONS);
    for (let i = 0; i < 10; i++) buffer.add(encodeKey(['k']), 'k', 1, () => '');
    expect(buffer.keys).toBe(1);
    expect(buffer.bytes).toBeGreaterThan(0);
    const drained = buffer.drain().flat();
    expect(drained.map(([k, v]) => [decodeKey(k), unpackValue(v)])).toEqual([[['k'], 10]]);
    expect(buffer.bytes).toBe(0);
  });

  it('estimates the heap a buffer holds within a factor of two (list values; count() per url and hour)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const measure = (
      kind: Kind,
      n: number,
      key: (i: number) => Key,
      value: (i: number) => unknown,
    ): number => {
      const job = jobs[kind] as Parameters<typeof shuffleCombiner>[0];
      const buffer = new MapBuffer(shuffleCombiner(job, new JobErrors(job)), PARTITIONS);
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < n; i++) buffer.add(encodeKey(key(i)), key(i)[0]!, value(i), () => '');
      gc();
      const used = process.memoryUsage().heapUsed - before;
      const ratio = buffer.bytes / used;
      return ratio;
    };
    const lists = measure(
      'list',
      50_000,
      (i) => [`/page/${i % 5000}`, `2024-06-${i % 28}`],
      (i) => ({ v: i, s: 'abc' }),
    );
    const counts = measure(
      'aggregate',
      100_000,
      (i) => [`/page/${i % 20_000}`, `2024-06-03T${i % 24}`],
      () => 1.5,
    );
    for (const ratio of [lists, counts]) {
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    }
    expect(approxBytes({ v: 1, s: 'abc' })).toBeGreaterThan(40);
  });
});
