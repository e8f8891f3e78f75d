/**
 * Parsing request bodies on a parse thread gives exactly what parsing on the main thread gives:
 * the same records, times and errors.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, type StrataError } from '../../core/errors.ts';
import { RecordParser } from '../../speed/record-parser.ts';
import type { BodyFormat, RecordBatchOptions } from '../../speed/record-batch.ts';

let threaded: RecordParser;
let inline: RecordParser;

beforeAll(async () => {
  threaded = await RecordParser.start({ threads: 1, inlineBelowBytes: 0 });
  inline = await RecordParser.start({ threads: 0 });
});
afterAll(async () => {
  await threaded?.close();
  await inline?.close();
});

const enc = (s: string) => new TextEncoder().encode(s);

async function outcome(
  parser: RecordParser,
  body: string,
  format: BodyFormat,
  options: RecordBatchOptions,
) {
  try {
    const b = await parser.parse(enc(body), format, options);
    return { records: b.records, times: Array.from(b.times), timeField: b.timeField };
  } catch (err) {
    if (!isStrataError(err)) throw err;
    const e = err as StrataError;
    return { code: e.code, message: e.message, details: e.details };
  }
}

const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tie('v'), { maxKeys: 3 }),
  ),
})).v;
const record = fc.record(
  {
    id: fc.string(),
    time: fc.oneof(
      fc.integer({ min: 1e11, max: 1e13 }),
      fc.constant('2026-01-05T10:00:00.5+01:00'),
      fc.constant(17),
      fc.constant(undefined),
    ),
    payload: value,
  },
  { requiredKeys: ['id', 'payload'] },
);

describe('record parser', () => {
  it('a parse thread and the main thread agree on records, times and errors, for NDJSON and JSON bodies', async () => {
    expect(threaded.threads).toBe(1);
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 0, maxLength: 30 }),
        fc.constantFrom<BodyFormat>('ndjson', 'json'),
        fc.boolean(),
        async (records, format, stamp) => {
          const body =
            format === 'json'
              ? JSON.stringify(records)
              : records.map((r) => JSON.stringify(r)).join('\n');
          const options = {
            timeField: 'time',
            ...(stamp ? { defaultTime: 1_767_600_000_000 } : {}),
          };
          const a = await outcome(threaded, body, format, options);
          const b = await outcome(inline, body, format, options);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a bad record found on a parse thread is the same StrataError with index, line and reason', async () => {
    const body = '{"time":1767600000000}\n\n{"time":"yesterday"}\n';
    const err = await outcome(threaded, body, 'ndjson', { timeField: 'time' });
    expect(err).toEqual({
      code: 'STRATA_E_RECORD_INVALID',
      message: expect.stringMatching(
        /^record 1 \(line 3\): time field "time" is "yesterday", not an ISO-8601 time/,
      ),
      details: { index: 1, line: 3, field: 'time', value: 'yesterday' },
    });
    expect(await outcome(threaded, '[{"time": 1}', 'json', { timeField: 'time' })).toMatchObject({
      code: 'STRATA_E_USAGE',
      message: expect.stringMatching(/^the request body is not JSON/),
    });
  });
});
