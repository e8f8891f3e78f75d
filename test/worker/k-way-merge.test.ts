import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kWayMerge } from '../../worker/k-way-merge.ts';

type Item = [n: number, source: number, i: number];

/** Cuts a sorted array into batches at the given cut points (empty batches included). */
function batches<T>(items: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const p of points) {
    out.push(items.slice(prev, p));
    prev = p;
  }
  out.push(items.slice(prev));
  return out;
}

async function* slowly<T>(batches: T[][]): AsyncGenerator<T[]> {
  for (const b of batches) {
    await new Promise((r) => setImmediate(r));
    yield b;
  }
}

async function collect<T>(it: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const b of it) out.push(...b);
  return out;
}

const byNumber = (a: Item, b: Item) => a[0] - b[0];

describe('kWayMerge', () => {
  it('gives every item once, in order, equal items in source order (a stable sort of the concatenation)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.array(fc.integer({ min: -20, max: 20 }), { maxLength: 60 }),
            fc.array(fc.nat(), { maxLength: 6 }),
            fc.boolean(),
          ),
          { maxLength: 7 },
        ),
        fc.integer({ min: 1, max: 40 }),
        async (specs, batchSize) => {
          const sources = specs.map(([ns, cuts, async], s) => {
            const items = [...ns].sort((a, b) => a - b).map((n, i): Item => [n, s, i]);
            const bs = batches(items, cuts);
            return async ? slowly(bs) : bs;
          });
          const expected = specs
            .flatMap(([ns], s) => [...ns].sort((a, b) => a - b).map((n, i): Item => [n, s, i]))
            .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          const merged: Item[][] = [];
          for await (const b of kWayMerge(sources, byNumber, { batchSize })) {
            expect(b.length).toBeGreaterThan(0);
            merged.push(b);
          }
          expect(merged.flat()).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('closes every unfinished source when the consumer stops early', async () => {
    const closed: number[] = [];
    const source = (s: number) =>
      (async function* () {
        try {
          for (let i = 0; i < 100; i++) yield [[i, s, i] as Item];
        } finally {
          closed.push(s);
        }
      })();
    for await (const b of kWayMerge([source(0), source(1), source(2)], byNumber, {
      batchSize: 4,
    })) {
      expect(b[0]![0]).toBe(0);
      break;
    }
    await new Promise((r) => setImmediate(r));
    expect(closed.sort()).toEqual([0, 1, 2]);
  });

  it('passes on a source failure and closes the other sources', async () => {
    let closed = false;
    const good = (async function* () {
      try {
        for (let i = 0; i < 10; i++) yield [[i, 0, i] as Item];
      } finally {
        closed = true;
      }
    })();
    const bad = (async function* () {
      yield [[0, 1, 0] as Item];
      throw new Error('stream broke');
    })();
    await expect(collect(kWayMerge([good, bad], byNumber))).rejects.toThrow('stream broke');
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(true);
  });

  it('merges no sources into nothing, and one source into itself', async () => {
    expect(await collect(kWayMerge<Item>([], byNumber))).toEqual([]);
    expect(
      await collect(kWayMerge([[[[1, 0, 0]], [], [[2, 0, 1]]] as Item[][]], byNumber)),
    ).toEqual([
      [1, 0, 0],
      [2, 0, 1],
    ]);
  });
});
