/**
 * How commands read their arguments: key parts for get/scan, --param and --partitions for submit.
 */
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../../core/errors.ts';
import { parseKeyParts } from '../../cli/commands/get.ts';
import { jobSpecOf } from '../../cli/commands/submit.ts';
import type { StaticJobSpec } from '../../jobs/types.ts';

describe('parseKeyParts', () => {
  it('reads JSON-number parts as numbers and everything else as strings', () => {
    expect(
      parseKeyParts([
        '/home',
        '2024',
        '-1.5',
        '1e3',
        '02139',
        '0',
        '12abc',
        'NaN',
        'Infinity',
        '0x10',
        '',
      ]),
    ).toEqual(['/home', 2024, -1.5, 1000, '02139', 0, '12abc', 'NaN', 'Infinity', '0x10', '']);
  });

  it('a part in double quotes is the JSON string inside; --string reads every part as written', () => {
    expect(parseKeyParts(['"2024"', '"a \\"b\\""', '"broken'])).toEqual([
      '2024',
      'a "b"',
      '"broken',
    ]);
    expect(parseKeyParts(['2024', '"x"'], { string: true })).toEqual(['2024', '"x"']);
  });
});

const spec: StaticJobSpec = {
  name: 'top',
  input: { dataset: 'pv' },
  partitions: 8,
  view: 'top',
  reduce: 'aggregate:count',
  combine: true,
  params: { minViews: 10, country: 'DE', bots: false },
};
const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isStrataError(err, 'STRATA_E_USAGE')) return err.message;
    throw err;
  }
  throw new Error('expected STRATA_E_USAGE');
};

describe('jobSpecOf', () => {
  it("adds the code hash and gives each --param the type of the job's default", () => {
    expect(
      jobSpecOf(spec, 'ab'.repeat(32), {
        params: ['minViews=25', 'country=FR', 'bots=true', 'country=a=b'],
        partitions: '4',
      }),
    ).toEqual({
      ...spec,
      partitions: 4,
      params: { minViews: 25, country: 'a=b', bots: true },
      codeHash: 'ab'.repeat(32),
    });
    expect(spec.params.minViews).toBe(10); // the job's own spec is not modified
  });

  it('refuses unknown params (with a guess), wrong types and bad partition counts', () => {
    expect(usage(() => jobSpecOf(spec, 'h', { params: ['minView=3'] }))).toBe(
      `job 'top' has no param "minView"; did you mean "minViews"?`,
    );
    expect(usage(() => jobSpecOf(spec, 'h', { params: ['zzz=3'] }))).toBe(
      `job 'top' has no param "zzz"; its params are minViews, country, bots`,
    );
    expect(usage(() => jobSpecOf(spec, 'h', { params: ['minViews=ten'] }))).toMatch(
      /declares minViews as a number \(default 10\)/,
    );
    expect(usage(() => jobSpecOf(spec, 'h', { params: ['bots=yes'] }))).toMatch(
      /declares bots as a boolean.*give true or false/,
    );
    expect(usage(() => jobSpecOf(spec, 'h', { params: ['novalue'] }))).toMatch(/is not name=value/);
    expect(usage(() => jobSpecOf(spec, 'h', { partitions: '0' }))).toMatch(
      /--partitions must be an integer from 1 to 4096, got "0"/,
    );
    expect(usage(() => jobSpecOf({ ...spec, params: {} }, 'h', { params: ['a=1'] }))).toMatch(
      /it declares no params/,
    );
  });
});
