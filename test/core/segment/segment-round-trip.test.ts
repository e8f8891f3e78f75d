/**
 * Segments round-trip any records in order, with exact footer statistics, from any block, with
 * block skipping by time, through both the random-access and the streaming reader.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeSegment,
  type SegmentSummary,
  type TimedRecord,
} from '../../../core/segment/segment-encoder.ts';
import type { SegmentCodec } from '../../../core/segment/segment-format.ts';
import { SegmentReader } from '../../../core/segment/segment-reader.ts';
import { readSegmentStream } from '../../../core/segment/segment-stream-reader.ts';

const scalar = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 4 }),
  fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), scalar, { maxKeys: 4 }),
);
const T0 = Date.UTC(2026, 0, 1);
const timedRecord = fc
  .tuple(
    fc.integer({ min: 0, max: 30 * 86_400_000 }),
    fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), value, { maxKeys: 6 }),
    fc.nat(),
  )
  .map(([dt, extra, id]): TimedRecord => ({
    time: T0 + dt,
    record: { ...extra, id, time: new Date(T0 + dt).toISOString() },
  }));

async function encode(
  records: TimedRecord[],
  blockTargetBytes: number,
  codec: SegmentCodec = 'none',
): Promise<{ bytes: Uint8Array; summary: SegmentSummary }> {
  const gen = encodeSegment(records, { dataset: 'ds', blockTargetBytes, codec, timeField: 'time' });
  const chunks: Uint8Array[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { bytes: Buffer.concat(chunks), summary: next.value };
    chunks.push(next.value);
  }
}

function open(bytes: Uint8Array, key = 'master/ds/dt=2026-01-01/x.seg'): Promise<SegmentReader> {
  return SegmentReader.open(
    async (offset, length) => bytes.subarray(offset, offset + length),
    bytes.length,
    { key, readBytes: 4096 },
  );
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const settings = fc.record({
  records: fc.array(timedRecord, { maxLength: 400 }),
  blockTargetBytes: fc.integer({ min: 1, max: 6000 }),
  codec: fc.constantFrom<SegmentCodec>('none', 'deflate'),
});

describe('segment round trip', () => {
  it('every record comes back in order, and the footer counts and time bounds are exact', async () => {
    await fc.assert(
      fc.asyncProperty(settings, async ({ records, blockTargetBytes, codec }) => {
        const { bytes, summary } = await encode(records, blockTargetBytes, codec);
        expect(summary.bytes).toBe(bytes.length);
        const reader = await open(bytes);
        const f = reader.footer;
        expect(await collect(reader.records())).toEqual(records.map((r) => r.record));
        expect(f.records).toBe(records.length);
        expect(f.dataset).toBe('ds');
        expect(f.timeField).toBe('time');
        const times = records.map((r) => r.time);
        expect(f.minTime).toBe(records.length ? Math.min(...times) : null);
        expect(f.maxTime).toBe(records.length ? Math.max(...times) : null);
        // Each block's own statistics are exact too.
        let at = 0;
        for (const b of f.blocks) {
          const own = times.slice(at, at + b.count);
          expect(b.count).toBeGreaterThan(0);
          expect([b.minTime, b.maxTime]).toEqual([Math.min(...own), Math.max(...own)]);
          at += b.count;
        }
        expect(at).toBe(records.length);
        // The streaming reader agrees and checks the footer at the end.
        const streamed = await collect(
          readSegmentStream(
            (async function* () {
              for (let i = 0; i < bytes.length; i += 777) yield bytes.subarray(i, i + 777);
            })(),
            { key: 'k' },
          ),
        );
        expect(streamed.flatMap((b) => b.records)).toEqual(records.map((r) => r.record));
      }),
      { numRuns: 60 },
    );
  });

  it('reading from any block index gives exactly the suffix of the records', async () => {
    await fc.assert(
      fc.asyncProperty(settings, fc.nat(), async ({ records, blockTargetBytes, codec }, pick) => {
        const { bytes } = await encode(records, blockTargetBytes, codec);
        const reader = await open(bytes);
        const k = pick % (reader.blockCount + 1);
        const skipped = reader.footer.blocks.slice(0, k).reduce((n, b) => n + b.count, 0);
        expect(await collect(reader.records({ fromBlock: k }))).toEqual(
          records.slice(skipped).map((r) => r.record),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('byte-range splits cut on block boundaries cover every block exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        settings,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        async ({ records, blockTargetBytes }, cuts) => {
          const { bytes } = await encode(records, blockTargetBytes);
          const reader = await open(bytes);
          const points = [
            0,
            ...cuts.map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b),
            bytes.length,
          ];
          const out: unknown[] = [];
          for (let i = 0; i + 1 < points.length; i++)
            out.push(
              ...(await collect(
                reader.records(reader.blocksInByteRange(points[i]!, points[i + 1]!)),
              )),
            );
          expect(out).toEqual(records.map((r) => r.record));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('blocks wholly outside a time range are skipped and no record inside it is lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        settings,
        fc.integer({ min: 0, max: 30 * 86_400_000 }),
        fc.integer({ min: 0, max: 10 * 86_400_000 }),
        async ({ records, blockTargetBytes }, lo, width) => {
          const { bytes } = await encode(records, blockTargetBytes);
          const reader = await open(bytes);
          const minTime = T0 + lo;
          const maxTime = minTime + width;
          const blocks = await collect(reader.blocks({ minTime, maxTime }));
          const expectedIdx = reader.footer.blocks.flatMap((b, i) =>
            b.maxTime >= minTime && b.minTime <= maxTime ? [i] : [],
          );
          expect(blocks.map((b) => b.index)).toEqual(expectedIdx);
          const got = new Set(blocks.flatMap((b) => b.records));
          const wanted = records
            .filter((r) => r.time >= minTime && r.time <= maxTime)
            .map((r) => r.record);
          // Records are decoded afresh, so compare by content.
          const gotList = [...got];
          for (const w of wanted) expect(gotList).toContainEqual(w);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('an empty segment has a footer with zero records and no blocks', async () => {
    const { bytes, summary } = await encode([], 1000);
    const reader = await open(bytes);
    expect(reader.footer).toMatchObject({ records: 0, minTime: null, maxTime: null, blocks: [] });
    expect(summary.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await collect(reader.records())).toEqual([]);
    expect(await collect(readSegmentStream([bytes]))).toEqual([]);
  });

  it('blocks are sized by blockTargetBytes: ~1000+ records of ~200 bytes fill a 256 KiB block', async () => {
    const records: TimedRecord[] = Array.from({ length: 5000 }, (_, i) => ({
      time: T0 + i,
      record: {
        time: new Date(T0 + i).toISOString(),
        url: `/products/item-${i % 977}`,
        user: `user-${(i * 7919) % 100_000}`,
        referrer: 'https://www.example.com/search?q=strata',
        ua: 'Mozilla/5.0 (X11; Linux x86_64)',
        ms: i % 1000,
      },
    }));
    const { bytes, summary } = await encode(records, 256 * 1024);
    const reader = await open(bytes);
    expect(summary.blocks).toBe(reader.blockCount);
    const first = reader.footer.blocks[0]!;
    expect(first.count).toBeGreaterThan(1000);
    expect(first.length).toBeGreaterThan(200 * 1024);
    expect(first.length).toBeLessThan(320 * 1024);
    expect(reader.footer.fields).toEqual(['ms', 'referrer', 'time', 'ua', 'url', 'user']);
  });
});
