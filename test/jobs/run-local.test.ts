import { describe, expect, it } from 'vitest';
import { count, defineJob, isStrataError, localView, mean, runLocal, sum } from 'strata';
import type { Key } from 'strata';
import { StrataError } from '../../core/errors.ts';

interface Sale {
  shop: string;
  day: number;
  amount: number;
}

const sales: Sale[] = [
  { shop: 'b', day: 2, amount: 5 },
  { shop: 'a', day: 10, amount: 1 },
  { shop: 'a', day: 2, amount: 4 },
  { shop: 'b', day: 2, amount: 7 },
  { shop: 'a', day: 10, amount: 2 },
  { shop: 'c', day: 1, amount: 3 },
];

const byShopDay = defineJob({
  name: 'sales',
  input: { dataset: 'sales' },
  map: (s: Sale, emit) => emit([s.shop, s.day], s.amount),
  aggregate: sum(),
});

async function failure(run: Promise<unknown>): Promise<StrataError> {
  try {
    await run;
  } catch (err) {
    if (err instanceof StrataError) return err;
    throw err;
  }
  throw new Error('expected the run to fail');
}

describe('runLocal', () => {
  it('groups by key and returns rows sorted in key order, with decoded tuple keys', async () => {
    const rows = await runLocal(byShopDay, sales);
    expect(rows).toEqual([
      [['a', 2], 4],
      [['a', 10], 3], // numbers sort by value, not as text
      [['b', 2], 12],
      [['c', 1], 3],
    ]);
  });

  it('sorts numbers before strings and a prefix tuple before its extensions, like the view', async () => {
    const job = defineJob({
      name: 'mixed',
      input: { dataset: 'x' },
      map: (r: { key: string | number | Array<string | number> }, emit) => emit(r.key, 1),
      aggregate: count(),
    });
    const rows = await runLocal(job, [
      { key: 'b' },
      { key: ['a', 1] },
      { key: 3 },
      { key: 'a' },
      { key: -1.5 },
      { key: ['a'] },
    ]);
    expect(rows.map((r) => r[0])).toEqual([[-1.5], [3], ['a'], ['a', 1], ['b']]);
    expect(rows.find((r) => r[0].length === 1 && r[0][0] === 'a')?.[1]).toBe(2); // 'a' and ['a'] are one key
  });

  it('a reduce job sees every value of a key; the same job with any split size and a combine agrees', async () => {
    const records = Array.from({ length: 200 }, (_, i) => ({
      shop: `s${i % 7}`,
      day: i % 3,
      amount: i,
    }));
    const reduceJob = defineJob({
      name: 'sales-reduce',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit(s.shop, s.amount),
      reduce: (_key: Key, values: readonly number[]) => values.reduce((a, b) => a + b, 0),
    });
    let combineCalls = 0;
    const combined = defineJob({
      name: 'sales-combined',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit(s.shop, s.amount),
      combine: (_key: Key, values: readonly number[]) => {
        combineCalls++;
        return values.reduce((a, b) => a + b, 0);
      },
      reduce: (_key: Key, values: readonly number[]) => values.reduce((a, b) => a + b, 0),
    });
    const expected = await runLocal(reduceJob, records);
    expect(expected).toHaveLength(7);
    expect(expected.reduce((t, r) => t + r[1], 0)).toBe((199 * 200) / 2);
    for (const splitSize of [1, 7, 50, 1000]) {
      combineCalls = 0;
      expect(await runLocal(combined, records, { splitSize })).toEqual(expected);
      // combine runs once per key per split, as a map task's combiner does
      let keysPerSplit = 0;
      for (let start = 0; start < records.length; start += splitSize)
        keysPerSplit += new Set(records.slice(start, start + splitSize).map((r) => r.shop)).size;
      expect(combineCalls).toBe(keysPerSplit);
      expect(await runLocal(reduceJob, records, { splitSize })).toEqual(expected);
    }
  });

  it('an aggregate job gives the same rows whatever the split size (accumulators cross the shuffle)', async () => {
    const job = defineJob({
      name: 'avg',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit(s.shop, s.amount),
      aggregate: mean(),
    });
    const whole = await runLocal(job, sales);
    expect(whole).toEqual([
      [['a'], 7 / 3],
      [['b'], 6],
      [['c'], 3],
    ]);
    for (const splitSize of [1, 2, 5])
      expect(await runLocal(job, sales, { splitSize })).toEqual(whole);
  });

  it('reads async iterables too', async () => {
    async function* stream(): AsyncGenerator<Sale> {
      for (const s of sales) {
        await new Promise((r) => setImmediate(r));
        yield s;
      }
    }
    expect(await runLocal(byShopDay, stream())).toEqual(await runLocal(byShopDay, sales));
  });

  it('passes params, defaults overridden by the run, to map', async () => {
    const job = defineJob({
      name: 'big-sales',
      input: { dataset: 'sales' },
      params: { minAmount: 4, label: 'big' },
      map: (s: Sale, emit, ctx) => {
        if (s.amount >= Number(ctx.params.minAmount)) emit(String(ctx.params.label), 1);
      },
      aggregate: count(),
    });
    expect(await runLocal(job, sales)).toEqual([[['big'], 3]]);
    expect(await runLocal(job, sales, { params: { minAmount: 6 } })).toEqual([[['big'], 1]]);
  });

  it('localView reads rows by scalar or tuple key', async () => {
    const view = localView(await runLocal(byShopDay, sales));
    expect(view.size).toBe(4);
    expect(view.get(['b', 2])).toBe(12);
    expect(view.has(['b', 3])).toBe(false);
    expect(view.get('b')).toBeUndefined();
    expect([...view.entries()].map((r) => r[1])).toEqual([4, 3, 12, 3]);
  });

  it('a map that throws fails with STRATA_E_JOB_MAP_FAILED naming the record position, the cause kept', async () => {
    const boom = new TypeError('amount is not a number');
    const job = defineJob({
      name: 'fragile',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => {
        if (s.shop === 'c') throw boom;
        emit(s.shop, s.amount);
      },
      aggregate: sum(),
    });
    const err = await failure(runLocal(job, sales));
    expect(err.code).toBe('STRATA_E_JOB_MAP_FAILED');
    expect(err.message).toMatch(
      /job 'fragile': map threw on the record at position 5 \(counting from 0\): amount is not a number/,
    );
    expect(err.message).toContain('"shop":"c"');
    expect(err.details).toMatchObject({ job: 'fragile', position: 5 });
    expect(err.cause).toBe(boom);
    expect(err.toJSON().cause).toMatchObject({ name: 'TypeError', stack: boom.stack });
  });

  it('a reduce that throws fails with STRATA_E_JOB_REDUCE_FAILED naming the key', async () => {
    const boom = new RangeError('too many values');
    const job = defineJob({
      name: 'picky',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit([s.shop, s.day], s.amount),
      reduce: (key: Key, values: readonly number[]) => {
        if (values.length > 1 && key[0] === 'b') throw boom;
        return values.length;
      },
    });
    const err = await failure(runLocal(job, sales));
    expect(err.code).toBe('STRATA_E_JOB_REDUCE_FAILED');
    expect(err.message).toContain(`job 'picky': reduce threw for key ["b",2]: too many values`);
    expect(err.details).toMatchObject({ key: ['b', 2] });
    expect(err.cause).toBe(boom);
  });

  it('an aggregator that rejects a value fails with STRATA_E_JOB_REDUCE_FAILED naming key and record', async () => {
    const job = defineJob({
      name: 'stringly',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit(s.shop, (s.day === 10 ? String(s.amount) : s.amount) as number),
      aggregate: sum(),
    });
    const err = await failure(runLocal(job, sales));
    expect(err.code).toBe('STRATA_E_JOB_REDUCE_FAILED');
    expect(err.message).toMatch(
      /sum\(\) failed to add the value emitted for the record at position 1 for key \["a"\]: sum\(\) adds finite numbers, but the job emitted the string "1"/,
    );
    expect(isStrataError(err.cause, 'STRATA_E_JOB_VALUE')).toBe(true);
  });

  it('an invalid key or a value that cannot cross the shuffle fails with STRATA_E_JOB_VALUE', async () => {
    const emitting = (pick: (s: Sale) => [unknown, unknown]) =>
      defineJob({
        name: 'emitter',
        input: { dataset: 'sales' },
        map: (s: Sale, emit) => {
          const [k, v] = pick(s);
          emit(k as string, v);
        },
        aggregate: count(),
      });
    const badKey = await failure(
      runLocal(
        emitting((s) => [s.day === 10 ? { shop: s.shop } : s.shop, 1]),
        sales,
      ),
    );
    expect(badKey.code).toBe('STRATA_E_JOB_VALUE');
    expect(badKey.message).toMatch(/map emitted an invalid key .* for the record at position 1/);
    expect(isStrataError(badKey.cause, 'STRATA_E_KEY_INVALID')).toBe(true);
    const nan = await failure(
      runLocal(
        emitting((s) => [[s.shop, NaN], 1]),
        sales,
      ),
    );
    expect(nan.code).toBe('STRATA_E_JOB_VALUE');
    const fnValue = await failure(
      runLocal(
        emitting((s) => [s.shop, { at: () => 1 }]),
        sales,
      ),
    );
    expect(fnValue.code).toBe('STRATA_E_JOB_VALUE');
    expect(fnValue.message).toContain('value.at is a function');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(
      (
        await failure(
          runLocal(
            emitting((s) => [s.shop, cyclic]),
            sales,
          ),
        )
      ).message,
    ).toContain('value.self refers back to itself');
    expect(
      (
        await failure(
          runLocal(
            emitting((s) => [s.shop, new Map()]),
            sales,
          ),
        )
      ).message,
    ).toContain('value is a Map instance');
  });

  it('a map that returns a promise is refused: map must be synchronous', async () => {
    const job = defineJob({
      name: 'async-map',
      input: { dataset: 'sales' },
      map: (async (s: Sale, emit: (k: string, v: number) => void) =>
        emit(s.shop, 1)) as unknown as (s: Sale) => void,
      aggregate: count(),
    });
    const err = await failure(runLocal(job, sales));
    expect(err.code).toBe('STRATA_E_JOB_MAP_FAILED');
    expect(err.message).toContain('map must be synchronous');
  });

  it('a reduce that forgets to return fails with STRATA_E_JOB_VALUE naming the key', async () => {
    const job = defineJob({
      name: 'forgetful',
      input: { dataset: 'sales' },
      map: (s: Sale, emit) => emit(s.shop, s.amount),
      reduce: (() => undefined) as unknown as (key: Key, values: readonly number[]) => number,
    });
    const err = await failure(runLocal(job, sales));
    expect(err.code).toBe('STRATA_E_JOB_VALUE');
    expect(err.message).toMatch(
      /reduce returned a value for key \["a"\] that cannot be stored: it is undefined/,
    );
  });

  it('refuses a split size that is not a positive integer', async () => {
    expect((await failure(runLocal(byShopDay, sales, { splitSize: 0 }))).code).toBe(
      'STRATA_E_USAGE',
    );
  });
});
