import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeKey, compareBytes, decodeKey, prefixRange } from '../../core/keys/key-codec.ts';
import { count, defineJob, distinct } from '../../jobs/index.ts';
import { mapToPartials } from '../../speed/realtime-fold.ts';
import { mergeEncoded, RealtimeState } from '../../speed/realtime-state.ts';
import { useTestRedis } from '../support/redis.ts';

const clicks = defineJob({
  name: 'clicks',
  input: { dataset: 'clicks' },
  map: (r: { page: string }, emit) => emit(r.page, 1),
  aggregate: count(),
});
const visitors = defineJob({
  name: 'visitors',
  input: { dataset: 'clicks' },
  map: (r: { page: string; user: string }, emit) => emit(r.page, r.user),
  aggregate: distinct(),
});
const reg = (view: string) => ({ view, spec: { params: {} } as never });

const r = useTestRedis();

function fresh(view = 'clicks'): RealtimeState {
  return new RealtimeState(r.redis, `t-${randomBytes(4).toString('hex')}`, view);
}

async function valueOf(
  state: RealtimeState,
  boundary: number,
  page: string,
  agg = clicks.aggregate!,
): Promise<unknown> {
  const read = await state.read(boundary, [encodeKey([page])]);
  return agg.result(mergeEncoded(agg, read.values[0]!));
}

describe('realtime state', () => {
  it('folding commits into buckets adds up per key, and a read after a boundary sees only later buckets', async () => {
    const state = fresh();
    const commits = [
      { id: 1, bucket: 10, pages: ['/a', '/a', '/b'] },
      { id: 2, bucket: 10, pages: ['/a'] },
      { id: 3, bucket: 11, pages: ['/b', '/c'] },
      { id: 4, bucket: 12, pages: ['/a'] },
    ];
    for (const c of commits) {
      const { partials } = mapToPartials(
        clicks as never,
        reg('clicks'),
        c.pages.map((page) => ({ page })),
      );
      expect(await state.fold(c.id, c.bucket, partials, clicks.aggregate!)).toBe(true);
    }
    expect(await valueOf(state, -1, '/a')).toBe(4);
    expect(await valueOf(state, 10, '/a')).toBe(1);
    expect(await valueOf(state, 10, '/b')).toBe(1);
    expect(await valueOf(state, 11, '/b')).toBe(0);
    const read = await state.read(10, [encodeKey(['/c'])]);
    expect(read.buckets).toEqual([11, 12]);
    expect(read.values[0]).toHaveLength(1);
  });

  it('a commit folded twice (a recovery replay) counts once', async () => {
    const state = fresh();
    const { partials } = mapToPartials(clicks as never, reg('clicks'), [
      { page: '/a' },
      { page: '/a' },
    ]);
    expect(await state.fold(7, 3, partials, clicks.aggregate!)).toBe(true);
    expect(await state.fold(7, 3, partials, clicks.aggregate!)).toBe(false);
    expect(await valueOf(state, -1, '/a')).toBe(2);
  });

  it('a record the map throws on is skipped whole and counted, the others fold', () => {
    const picky = defineJob({
      name: 'picky',
      input: { dataset: 'clicks' },
      map: (r: { page: string }, emit) => {
        emit(r.page, 1);
        if (r.page === '/bad') throw new Error('no');
      },
      aggregate: count(),
    });
    const { partials, skipped } = mapToPartials(picky as never, reg('picky'), [
      { page: '/a' },
      { page: '/bad' },
      { page: '/a' },
    ]);
    expect(skipped).toBe(1);
    expect(partials.map((p) => [decodeKey(p.key), p.acc])).toEqual([[['/a'], 2]]);
  });

  it('dropping buckets removes them and the keys only they held; later buckets and keys stay', async () => {
    const state = fresh();
    const fold = async (id: number, bucket: number, pages: string[]) =>
      state.fold(
        id,
        bucket,
        mapToPartials(
          clicks as never,
          reg('clicks'),
          pages.map((page) => ({ page })),
        ).partials,
        clicks.aggregate!,
      );
    await fold(1, 1, ['/old', '/both']);
    await fold(2, 2, ['/both', '/new']);
    expect(await state.drop(1)).toBe(1);
    expect(await state.bucketIds()).toEqual([2]);
    const { start, end } = prefixRange([]);
    const keys = (await state.keysInRange(start, end, undefined, 100)).map((k) => decodeKey(k)[0]);
    expect(keys).toEqual(['/both', '/new']);
    expect(await valueOf(state, -1, '/both')).toBe(1);
    expect(await state.isFolded(1)).toBe(false);
    expect(await state.isFolded(2)).toBe(true);
  });

  it('distinct-count accumulators merge across commits exactly like one pass over all records', async () => {
    const state = fresh('visitors');
    const records = Array.from({ length: 300 }, (_, i) => ({
      page: `/p${i % 3}`,
      user: `u${(i * 7) % 50}`,
    }));
    for (let c = 0; c < 6; c++) {
      const { partials } = mapToPartials(
        visitors as never,
        reg('visitors'),
        records.slice(c * 50, c * 50 + 50),
      );
      await state.fold(c + 1, 100 + (c % 2), partials, visitors.aggregate!);
    }
    for (const page of ['/p0', '/p1', '/p2']) {
      const expected = new Set(records.filter((r) => r.page === page).map((r) => r.user)).size;
      expect(await valueOf(state, -1, page, visitors.aggregate!)).toBe(expected);
    }
  });

  it('key listings come back in key order within a prefix, after a cursor, up to a limit (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.tuple(fc.constantFrom('a', 'b', 'ab'), fc.integer({ min: -50, max: 50 })),
          { minLength: 1, maxLength: 40, selector: (k) => `${k[0]}|${k[1]}` },
        ),
        fc.integer({ min: 1, max: 10 }),
        async (keys, limit) => {
          const state = fresh();
          const partials = keys.map((k) => ({ key: encodeKey(k), acc: 1 }));
          await state.fold(1, 1, partials, clicks.aggregate!);
          const { start, end } = prefixRange(['a']);
          const expected = keys
            .filter((k) => k[0] === 'a')
            .map((k) => encodeKey(k))
            .sort(compareBytes);
          const seen: Uint8Array[] = [];
          let after: Uint8Array | undefined;
          for (;;) {
            const page = await state.keysInRange(start, end, after, limit);
            seen.push(...page);
            if (page.length < limit) break;
            after = page[page.length - 1];
          }
          expect(seen.map((k) => decodeKey(k))).toEqual(expected.map((k) => decodeKey(k)));
          await state.clear();
        },
      ),
      { numRuns: 25 },
    );
  });
});
