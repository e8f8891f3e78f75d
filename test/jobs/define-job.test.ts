import { describe, expect, expectTypeOf, it } from 'vitest';
import { count, defineJob, distinct, isJobDefinition, isStrataError, sum, topK } from 'strata';
import type { JobDefinition, Key, StaticJobSpec } from 'strata';
import { StrataError } from '../../core/errors.ts';

const valid = {
  name: 'pageviews',
  input: { dataset: 'pageviews' },
  map: (r: { url: string }, emit: (k: string, v: number) => void) => emit(r.url, 1),
  aggregate: count(),
};

function definitionError(spec: unknown): StrataError {
  try {
    defineJob(spec as never);
  } catch (err) {
    if (!isStrataError(err, 'STRATA_E_JOB_DEFINITION')) throw err;
    return err;
  }
  throw new Error('defineJob accepted an invalid spec');
}

describe('defineJob', () => {
  it('returns a frozen, branded definition with defaults filled in', () => {
    const job = defineJob(valid);
    expect(job.kind).toBe('strata.job');
    expect(Object.isFrozen(job)).toBe(true);
    expect(Object.isFrozen(job.input)).toBe(true);
    expect(Object.isFrozen(job.params)).toBe(true);
    expect(job.partitions).toBe(8);
    expect(job.view).toBe('pageviews');
    expect(job.params).toEqual({});
    expect(isJobDefinition(job)).toBe(true);
    expect(isJobDefinition({ ...valid })).toBe(false);
  });

  it('gives a JSON-able static spec naming the aggregator and its options', () => {
    const job = defineJob({
      name: 'uniques',
      input: { dataset: 'pageviews', from: '2024-06-01', to: '2024-06-14' },
      map: (r: { url: string; visitor: string }, emit) => emit(r.url, r.visitor),
      aggregate: distinct(12),
      partitions: 32,
      view: 'uniques-by-url',
      params: { minViews: 3, country: 'DE', bots: false },
    });
    const expected: StaticJobSpec = {
      name: 'uniques',
      input: { dataset: 'pageviews', from: '2024-06-01', to: '2024-06-14' },
      partitions: 32,
      view: 'uniques-by-url',
      reduce: 'aggregate:distinct',
      aggregateOptions: { precision: 12 },
      combine: true,
      params: { minViews: 3, country: 'DE', bots: false },
    };
    expect(job.staticSpec()).toEqual(expected);
    expect(JSON.parse(JSON.stringify(job.staticSpec()))).toEqual(expected);
    // each call is a fresh copy: mutating it cannot change the job
    (job.staticSpec().input as { dataset: string }).dataset = 'other';
    expect(job.staticSpec().input.dataset).toBe('pageviews');
  });

  it("records a reduce job as 'reduce', combining only when it has a combine", () => {
    const base = {
      name: 'lengths',
      input: { dataset: 'lines' },
      map: (r: { line: string }, emit: (k: string, v: number) => void) =>
        emit('all', r.line.length),
    };
    const plain = defineJob({
      ...base,
      reduce: (_key: Key, values: readonly number[]) => Math.max(...values),
    });
    expect(plain.staticSpec()).toMatchObject({
      reduce: 'reduce',
      combine: false,
      partitions: 8,
      view: 'lengths',
    });
    expect(plain.staticSpec()).not.toHaveProperty('aggregateOptions');
    const combined = defineJob({
      ...base,
      reduce: (_k: Key, v: readonly number[]) => Math.max(...v),
      combine: (_k: Key, v: readonly number[]) => Math.max(...v),
    });
    expect(combined.staticSpec().combine).toBe(true);
  });

  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a name with capitals', { name: 'PageViews' }, 'name', /"PageViews" \(string\)/],
    ['a name that is too long', { name: 'a'.repeat(65) }, 'name', /at most 64/],
    ['a missing input', { input: undefined }, 'input', /input: \{ dataset: 'pageviews'/],
    ['a bad dataset name', { input: { dataset: 'page views' } }, 'input.dataset', /"page views"/],
    [
      'a from that is not a date',
      { input: { dataset: 'pv', from: '2024-6-1' } },
      'input.from',
      /'YYYY-MM-DD'.*"2024-6-1"/,
    ],
    [
      'an impossible date',
      { input: { dataset: 'pv', to: '2024-02-30' } },
      'input.to',
      /"2024-02-30"/,
    ],
    [
      'an inverted range',
      { input: { dataset: 'pv', from: '2024-06-14', to: '2024-06-01' } },
      'input.from',
      /2024-06-14\) is after/,
    ],
    [
      'a map that is not a function',
      { map: 'emit(url)' },
      'map',
      /map: \(record, emit\) => emit\(record\.url, 1\)/,
    ],
    ['both reduce and aggregate', { reduce: () => 1 }, 'reduce', /got both/],
    ['neither reduce nor aggregate', { aggregate: undefined }, 'reduce', /got neither/],
    [
      'an aggregator factory passed uncalled',
      { aggregate: count },
      'aggregate',
      /aggregate: count\(\)/,
    ],
    [
      'a non-aggregator object',
      { aggregate: { name: 'x' } },
      'aggregate',
      /count\(\), sum\(\), distinct\(\)/,
    ],
    ['combine beside an aggregator', { combine: () => 1 }, 'combine', /already combines/],
    [
      'zero partitions',
      { partitions: 0 },
      'partitions',
      /1 to 4096.*got 0 \(number\)[\s\S]*partitions: 16/,
    ],
    ['fractional partitions', { partitions: 2.5 }, 'partitions', /got 2\.5/],
    ['too many partitions', { partitions: 4097 }, 'partitions', /got 4097/],
    ['a bad view name', { view: 'Hourly Views' }, 'view', /"Hourly Views"/],
    ['a param that is an object', { params: { since: { d: 1 } } }, 'params', /param `since`/],
    [
      'a typo in an option',
      { partition: 4 },
      'partitions',
      /unknown option `partition`; did you mean `partitions`\?/,
    ],
    [
      'a typo in an input option',
      { input: { dataset: 'pv', form: '2024-01-01' } },
      'input',
      /`input\.form`; did you mean `input\.from`\?/,
    ],
    [
      'a bad-record budget given as a bare number',
      { badRecords: 100 },
      'badRecords',
      /`badRecords` must be an object \{ max \}; got 100 \(number\)[\s\S]*badRecords: \{ max: 100 \}/,
    ],
    [
      'a negative bad-record budget',
      { badRecords: { max: -1 } },
      'badRecords',
      /`badRecords\.max` must be a whole number ≥ 0 .*got -1 \(number\)/,
    ],
    [
      'a fractional bad-record budget',
      { badRecords: { max: 2.5 } },
      'badRecords',
      /got 2\.5 \(number\)/,
    ],
    [
      'an infinite bad-record budget',
      { badRecords: { max: Infinity } },
      'badRecords',
      /got Infinity \(number\)/,
    ],
    [
      'a typo in the bad-record budget',
      { badRecords: { mx: 10 } },
      'badRecords',
      /^defineJob\('pageviews'\): unknown option `badRecords\.mx`; did you mean `badRecords\.max`\?/,
    ],
    [
      'another name for the bad-record budget',
      { badRecords: { limit: 10 } },
      'badRecords',
      /unknown option `badRecords\.limit`; `badRecords` takes only `max`/,
    ],
    [
      'a typo of badRecords',
      { badRecord: { max: 10 } },
      'badRecords',
      /unknown option `badRecord`; did you mean `badRecords`\?/,
    ],
  ];

  it.each(cases)(
    'rejects %s with STRATA_E_JOB_DEFINITION naming the job, option and value, with an example',
    (_what, change, option, pattern) => {
      const err = definitionError({ ...valid, ...change });
      expect(err.message).toMatch(pattern);
      expect(err.message).toMatch(/Example: /);
      const job = (change.name as string | undefined) ?? 'pageviews';
      expect(err.message.startsWith(`defineJob('${job}')`)).toBe(true);
      expect(
        (err.details as { problems: Array<{ option: string }> }).problems.map((p) => p.option),
      ).toContain(option);
    },
  );

  it('takes a bad-record budget into the definition and the static spec; without one, max is 0 and the spec has none', () => {
    const tolerant = defineJob({ ...valid, badRecords: { max: 100 } });
    expect(tolerant.badRecords).toEqual({ max: 100 });
    expect(Object.isFrozen(tolerant.badRecords)).toBe(true);
    expect(tolerant.staticSpec()).toMatchObject({ badRecords: { max: 100 } });
    expect(JSON.parse(JSON.stringify(tolerant.staticSpec())).badRecords).toEqual({ max: 100 });
    const strict = defineJob(valid);
    expect(strict.badRecords).toEqual({ max: 0 });
    expect(strict.staticSpec()).not.toHaveProperty('badRecords');
    // An explicit 0 is the default, stated: the spec stays as a job without the option.
    expect(defineJob({ ...valid, badRecords: { max: 0 } }).staticSpec()).toEqual(
      strict.staticSpec(),
    );
  });

  it('reports every problem at once', () => {
    const err = definitionError({ name: 'x', input: { dataset: 'Bad' }, map: 1, partitions: -1 });
    expect(err.message).toMatch(/has 4 problems/);
    for (const text of ['input.dataset', '`map`', 'got neither', '`partitions`'])
      expect(err.message).toContain(text);
  });

  it('rejects a spec that is not an object', () => {
    expect(definitionError(undefined).message).toMatch(
      /^defineJob: defineJob takes one options object; got undefined/,
    );
  });

  it('types the record, the emitted value and the output from the spec', () => {
    const job = defineJob({
      name: 'amounts',
      input: { dataset: 'orders' },
      map: (order: { customer: string; amount: number }, emit) =>
        emit(order.customer, order.amount),
      aggregate: sum(),
    });
    expectTypeOf(job).toEqualTypeOf<
      JobDefinition<{ customer: string; amount: number }, number, number>
    >();

    const top = defineJob({
      name: 'top-orders',
      input: { dataset: 'orders' },
      map: (order: { id: string; amount: number }, emit) => emit('all', order),
      aggregate: topK(3, (o: { id: string; amount: number }) => o.amount),
    });
    expectTypeOf(top.aggregate!.result).returns.toEqualTypeOf<
      Array<{ id: string; amount: number }>
    >();

    defineJob({
      name: 'bad-sum',
      input: { dataset: 'orders' },
      // @ts-expect-error sum() takes numbers, so emitting a string does not type-check
      map: (order: { customer: string }, emit) => emit(order.customer, order.customer),
      aggregate: sum(),
    });
  });
});
