/**
 * Damage is found and named: a flipped byte in any block fails its CRC or length check with
 * STRATA_E_SEGMENT_CORRUPT naming the segment and the block; a damaged footer, a truncated file and
 * a file that is not a segment each fail with their own clear error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { encodeSegment, type TimedRecord } from '../../../core/segment/segment-encoder.ts';
import { SegmentReader } from '../../../core/segment/segment-reader.ts';
import { readSegmentStream } from '../../../core/segment/segment-stream-reader.ts';
import { SegmentWriter } from '../../../core/segment/segment-writer.ts';

const KEY = 'master/ds/dt=2026-01-01/0000000000001000000-ab.seg';
const T0 = Date.UTC(2026, 0, 1);
const records: TimedRecord[] = Array.from({ length: 3000 }, (_, i) => ({
  time: T0 + i * 1000,
  record: { time: T0 + i * 1000, page: `/p/${i % 37}`, n: i },
}));

async function bytesOf(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of gen) chunks.push(c);
  return Buffer.concat(chunks);
}

const good = await bytesOf(encodeSegment(records, { dataset: 'ds', blockTargetBytes: 4096 }));
const reader = await SegmentReader.open(async (o, l) => good.subarray(o, o + l), good.length, {
  key: KEY,
});
const blocks = reader.footer.blocks;

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

async function drain<T>(it: AsyncIterable<T>): Promise<void> {
  for await (const _ of it);
}

describe('segment corruption', () => {
  it('has enough blocks for the test to mean something', () => {
    expect(blocks.length).toBeGreaterThan(10);
  });

  it('a flipped byte in a block gives STRATA_E_SEGMENT_CORRUPT naming the segment key and that block', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: blocks.length - 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (index, at, xor) => {
          const b = blocks[index]!;
          const pos = b.offset + (at % b.length);
          const bad = Uint8Array.from(good);
          bad[pos] ^= xor;
          const r = await SegmentReader.open(async (o, l) => bad.subarray(o, o + l), bad.length, {
            key: KEY,
          });
          const err = await failure(() => drain(r.records()));
          expect(isStrataError(err, 'STRATA_E_SEGMENT_CORRUPT')).toBe(true);
          expect((err as Error).message).toContain(
            `segment ${KEY} block ${index} at byte ${b.offset}`,
          );
          expect((err as { details: unknown }).details).toEqual({
            key: KEY,
            block: index,
            offset: b.offset,
          });
          // Blocks before the damaged one still read fine: damage is contained to its block.
          expect((await collectRecords(r, index)).length).toBe(
            blocks.slice(0, index).reduce((n, x) => n + x.count, 0),
          );
          // The streaming reader names the same block (a corrupted length field may instead read as
          // a truncation).
          const streamErr = await failure(() => drain(readSegmentStream([bad], { key: KEY })));
          expect(isStrataError(streamErr, 'STRATA_E_SEGMENT_CORRUPT')).toBe(true);
          expect((streamErr as Error).message).toMatch(
            new RegExp(
              `block ${index} at byte ${b.offset}|at byte ${b.offset}: stream ended inside block ${index}`,
            ),
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it('a flipped byte in the footer gives STRATA_E_SEGMENT_CORRUPT when the segment is opened', async () => {
    const bad = Uint8Array.from(good);
    bad[bad.length - 40] ^= 0x10;
    const err = await failure(() =>
      SegmentReader.open(async (o, l) => bad.subarray(o, o + l), bad.length, { key: KEY }),
    );
    expect(isStrataError(err, 'STRATA_E_SEGMENT_CORRUPT')).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(`segment ${KEY} footer at byte \\d+: CRC32 mismatch`),
    );
  });

  it('a truncated segment or a file that is not a segment gives STRATA_E_SEGMENT_FORMAT', async () => {
    const cut = good.subarray(0, good.length - 5);
    const err = await failure(() =>
      SegmentReader.open(async (o, l) => cut.subarray(o, o + l), cut.length, { key: KEY }),
    );
    expect(isStrataError(err, 'STRATA_E_SEGMENT_FORMAT')).toBe(true);
    expect((err as Error).message).toContain(KEY);
    const json = new TextEncoder().encode('{"time": 1}\n'.repeat(10));
    const err2 = await failure(() => drain(readSegmentStream([json], { key: 'x.ndjson' })));
    expect(isStrataError(err2, 'STRATA_E_SEGMENT_FORMAT')).toBe(true);
    const err3 = await failure(() =>
      drain(readSegmentStream([good.subarray(0, blocks[3]!.offset + 10)], { key: KEY })),
    );
    expect(isStrataError(err3, 'STRATA_E_SEGMENT_CORRUPT')).toBe(true);
    expect((err3 as Error).message).toContain('truncated');
  });
});

describe('SegmentWriter', () => {
  it('streams the same bytes as encodeSegment while a slow consumer applies backpressure', async () => {
    const writer = new SegmentWriter({ dataset: 'ds', blockTargetBytes: 4096 });
    let waits = 0;
    const consumed = (async () => {
      const chunks: Uint8Array[] = [];
      for await (const c of writer.bytes) {
        chunks.push(c);
        await new Promise((r) => setTimeout(r, 1));
      }
      return Buffer.concat(chunks);
    })();
    for (const { record, time } of records) {
      const p = writer.write(record, time);
      if (p) {
        waits++;
        await p;
      }
    }
    const summary = writer.end();
    const bytes = await consumed;
    expect(waits).toBeGreaterThan(0);
    expect(summary.bytes).toBe(bytes.length);
    const r = await SegmentReader.open(async (o, l) => bytes.subarray(o, o + l), bytes.length);
    expect(r.footer.records).toBe(records.length);
    expect(r.footer.blocks.map((b) => b.count)).toEqual(blocks.map((b) => b.count));
  });

  it('abort fails the byte stream and any waiting write', async () => {
    const writer = new SegmentWriter({ dataset: 'ds', blockTargetBytes: 512 });
    const it = writer.bytes[Symbol.asyncIterator]();
    const first = it.next(); // nobody reads after this one chunk, so writes soon wait
    let pending: Promise<void> | undefined;
    for (const { record, time } of records) {
      const p = writer.write(record, time);
      if (p) {
        pending = p;
        break;
      }
    }
    expect(pending).toBeDefined();
    expect((await first).done).toBe(false);
    const boom = new Error('input failed');
    writer.abort(boom);
    await expect(pending).rejects.toBe(boom);
    await expect(it.next()).rejects.toBe(boom);
  });
});

async function collectRecords(r: SegmentReader, toBlock: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of r.records({ toBlock })) out.push(x);
  return out;
}
