/**
 * The naming rules of the master dataset: dataset names, event times, day folders, sequences.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import {
  checkDateRange,
  nextSequence,
  parseSegmentKey,
  segmentKey,
  utcDate,
} from '../../../core/dataset/dataset-layout.ts';
import { assertDatasetName } from '../../../core/dataset/dataset-name.ts';
import { listDatasets, listSegments } from '../../../core/dataset/list-segments.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { eventTimeOf, explainBadEventTime } from '../../../core/dataset/event-time.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isStrataError(err) ? err.code : 'not a StrataError';
  }
  return undefined;
}

describe('dataset names', () => {
  it('accepts [a-z0-9][a-z0-9_-]{0,63} and rejects anything else with STRATA_E_DATASET_NAME', () => {
    for (const ok of ['pageviews', 'a', '0', 'web_analytics-2', 'x'.repeat(64)])
      expect(codeOf(() => assertDatasetName(ok))).toBeUndefined();
    for (const bad of ['', 'Page', '-x', '_x', 'a b', 'a/b', 'x'.repeat(65), 'é', '..'])
      expect(codeOf(() => assertDatasetName(bad))).toBe('STRATA_E_DATASET_NAME');
  });
});

describe('event time', () => {
  it('reads ISO-8601 strings with an offset, bare dates as UTC midnight, and integer epoch milliseconds', () => {
    expect(eventTimeOf('2026-01-05T10:00:00Z')).toBe(Date.UTC(2026, 0, 5, 10));
    expect(eventTimeOf('2026-01-05T10:00:00.250+01:00')).toBe(Date.UTC(2026, 0, 5, 9, 0, 0, 250));
    expect(eventTimeOf('2026-01-05T10:00-05:30')).toBe(Date.UTC(2026, 0, 5, 15, 30));
    expect(eventTimeOf('2026-01-05T10:00:00.123456789Z')).toBe(Date.UTC(2026, 0, 5, 10, 0, 0, 123));
    expect(eventTimeOf('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    expect(eventTimeOf(1767603600250)).toBe(1767603600250);
  });

  it('agrees with Date.parse on every time it accepts, and accepts every ISO form with a zone', () => {
    const iso = fc.tuple(
      fc.integer({ min: Date.UTC(1973, 3, 1), max: Date.UTC(2400, 0, 1) }),
      fc.integer({ min: -14 * 60, max: 14 * 60 }),
      fc.integer({ min: 0, max: 3 }),
    );
    fc.assert(
      fc.property(iso, ([t, offsetMin, form]) => {
        const local = new Date(t + offsetMin * 60_000).toISOString().slice(0, 23);
        const zone =
          offsetMin === 0 && form % 2 === 0
            ? 'Z'
            : `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMin) % 60).padStart(2, '0')}`;
        const text = [local, local.slice(0, 19), `${local}4567`, local.slice(0, 16)][form]! + zone;
        const expected = [t, t - (t % 1000), t, t - (t % 60_000)][form]!;
        expect(eventTimeOf(text)).toBe(expected);
      }),
    );
    const near = fc.stringMatching(
      /^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,10})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/,
    );
    fc.assert(
      fc.property(fc.oneof(near, fc.string()), (text) => {
        const t = eventTimeOf(text);
        if (!Number.isNaN(t)) expect(t).toBe(Date.parse(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects ambiguous or impossible values, each with an explanation', () => {
    const bad: [unknown, RegExp][] = [
      ['2026-01-05T10:00:00', /without a time zone/],
      ['2026-01-05 10:00:00', /without a time zone/],
      ['2026-02-30', /calendar date/],
      ['2025-02-29T00:00:00Z', /calendar date/],
      ['2026-01-05T24:00:00Z', /ISO-8601/],
      ['1767603600250', /JSON number/],
      ['yesterday', /ISO-8601/],
      [1767603600, /epoch seconds/],
      [1767603600250000, /micro- or nanoseconds/],
      [1767603600250.5, /whole number/],
      [null, /null/],
      [undefined, /missing/],
      [true, /boolean/],
      [{}, /object/],
    ];
    for (const [value, why] of bad) {
      expect(eventTimeOf(value), String(value)).toBeNaN();
      expect(explainBadEventTime(value)).toMatch(why);
    }
  });
});

describe('layout', () => {
  it('puts a record in the folder of the UTC date of its event time', () => {
    expect(utcDate(Date.UTC(2026, 0, 5, 23, 59, 59, 999))).toBe('2026-01-05');
    expect(utcDate(Date.UTC(2026, 0, 6))).toBe('2026-01-06');
    expect(utcDate(eventTimeOf('2026-01-06T00:30:00+01:00'))).toBe('2026-01-05');
  });

  it('sequences are 19 digits, strictly increasing even within one millisecond or if the clock goes back', () => {
    const seqs = [
      nextSequence(2_000_000_000_000),
      nextSequence(2_000_000_000_000),
      nextSequence(1_999_999_999_000),
      nextSequence(2_000_000_000_001),
    ];
    for (const s of seqs) expect(s).toMatch(/^\d{19}$/);
    expect([...seqs].sort()).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('segment keys round-trip through parseSegmentKey and other keys do not parse', () => {
    const sha = 'ab'.repeat(32);
    const key = segmentKey('pv', '2026-01-05', '0000000000001000000', sha);
    expect(key).toBe(`master/pv/dt=2026-01-05/0000000000001000000-${sha}.seg`);
    expect(parseSegmentKey(key)).toEqual({
      dataset: 'pv',
      date: '2026-01-05',
      seq: '0000000000001000000',
      sha256: sha,
    });
    expect(parseSegmentKey(`${key}.stats.json`)).toBeUndefined();
    expect(parseSegmentKey('master/pv/dt=2026-01-05/notes.txt')).toBeUndefined();
  });

  it('speed segment keys carry their bucket (-b<bucket>); file-ingest keys have none; both parse', () => {
    const sha = 'cd'.repeat(32);
    const key = segmentKey('pv', '2026-01-05', '0000000000001000000', sha, 29446201);
    expect(key).toBe(`master/pv/dt=2026-01-05/0000000000001000000-b29446201-${sha}.seg`);
    expect(parseSegmentKey(key)).toEqual({
      dataset: 'pv',
      date: '2026-01-05',
      seq: '0000000000001000000',
      sha256: sha,
      bucket: 29446201,
    });
    expect(
      parseSegmentKey(segmentKey('pv', '2026-01-05', '0000000000001000000', sha, 0))?.bucket,
    ).toBe(0);
    expect(
      'bucket' in parseSegmentKey(segmentKey('pv', '2026-01-05', '0000000000001000000', sha))!,
    ).toBe(false);
    for (const bad of [`-b-${sha}`, `-b01-${sha}`, `-bx-${sha}`, `-b1${sha}`, `-b1-b2-${sha}`])
      expect(
        parseSegmentKey(`master/pv/dt=2026-01-05/0000000000001000000${bad}.seg`),
        bad,
      ).toBeUndefined();
    expect(() => segmentKey('pv', '2026-01-05', '0000000000001000000', sha, -1)).toThrow(
      /bucket -1/,
    );
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 0, max: 10 ** 15 - 1 }), { nil: undefined }),
        (bucket) => {
          expect(
            parseSegmentKey(segmentKey('pv', '2026-01-05', '0000000000001000000', sha, bucket))
              ?.bucket,
          ).toBe(bucket);
        },
      ),
    );
  });

  it('listSegments lists file-ingest and speed segments of a day together in sequence order, with the bucket where there is one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-layout-'));
    const store = await openStore(`file://${dir}`);
    try {
      const sha = (c: string) => c.repeat(64);
      const keys = [
        segmentKey('pv', '2026-01-05', '0000000000001000000', sha('a')),
        segmentKey('pv', '2026-01-05', '0000000000002000000', sha('b'), 7),
        segmentKey('pv', '2026-01-05', '0000000000003000000', sha('c')),
        segmentKey('pv', '2026-01-06', '0000000000004000000', sha('d'), 9),
      ];
      for (const k of [...keys].reverse()) await store.put(k, new Uint8Array([1]));
      const listed = await listSegments(store, 'pv');
      expect(listed.map((s) => s.key)).toEqual(keys);
      expect(listed.map((s) => s.bucket)).toEqual([undefined, 7, undefined, 9]);
      expect(
        (await listSegments(store, 'pv', { from: '2026-01-06' })).map((s) => s.bucket),
      ).toEqual([9]);
      expect(await listDatasets(store)).toEqual(['pv']);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('date ranges must be calendar dates with from ≤ to (STRATA_E_DATE_RANGE)', () => {
    expect(checkDateRange({ from: '2026-01-01', to: '2026-01-01' })).toEqual({
      from: '2026-01-01',
      to: '2026-01-01',
    });
    for (const bad of [
      { from: '2026-1-1' },
      { to: '2026-13-01' },
      { from: '2026-02-30' },
      { from: '2026-01-02', to: '2026-01-01' },
    ]) {
      expect(codeOf(() => checkDateRange(bad))).toBe('STRATA_E_DATE_RANGE');
    }
  });
});
