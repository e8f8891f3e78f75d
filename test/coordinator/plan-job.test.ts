/**
 * The planner: splits cover every block of every input segment exactly once, on block
 * boundaries, at about the target size; dates prune whole days; a bad submission (unknown
 * dataset, empty range, missing bundle) is a clear error before anything is recorded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSegments } from '../../core/dataset/list-segments.ts';
import { isStrataError } from '../../core/errors.ts';
import { openSegment, readSegmentFooter } from '../../core/segment/open-segment.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { cutSplits } from '../../coordinator/plan/cut-splits.ts';
import { planJob } from '../../coordinator/plan/plan-job.ts';
import { putBundle, specFor, writeDataset } from './coordinator-fixture.ts';

describe('cutSplits', () => {
  const blocksArb = fc.array(
    fc.record({
      length: fc.integer({ min: 20, max: 5000 }),
      count: fc.integer({ min: 1, max: 50 }),
    }),
    { maxLength: 200 },
  );

  it('covers every block exactly once, in order, with contiguous byte ranges; all but the last reach the target and none is a sliver', () => {
    fc.assert(
      fc.property(blocksArb, fc.integer({ min: 1, max: 40_000 }), (raw, target) => {
        let offset = 8;
        const blocks = raw.map((b) => {
          const block = { offset, length: b.length, count: b.count };
          offset += b.length;
          return block;
        });
        const splits = cutSplits('seg', blocks, target);
        if (blocks.length === 0) return splits.length === 0;
        let next = 0;
        for (const [i, s] of splits.entries()) {
          expect(s.startBlock).toBe(next);
          expect(s.endBlock).toBeGreaterThan(s.startBlock);
          expect(s.startOffset).toBe(blocks[s.startBlock]!.offset);
          expect(s.endOffset).toBe(blocks[s.endBlock - 1]!.offset + blocks[s.endBlock - 1]!.length);
          expect(s.records).toBe(
            blocks.slice(s.startBlock, s.endBlock).reduce((n, b) => n + b.count, 0),
          );
          const bytes = s.endOffset - s.startOffset;
          if (i < splits.length - 1) expect(bytes).toBeGreaterThanOrEqual(target);
          if (splits.length > 1) expect(bytes).toBeGreaterThanOrEqual(target * 0.1);
          // A split never overshoots by more than one block plus the absorbed tail.
          expect(bytes).toBeLessThan(target * 1.1 + 2 * 5000);
          next = s.endBlock;
        }
        expect(next).toBe(blocks.length);
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('a segment smaller than the target is one split', () => {
    const blocks = [
      { offset: 8, length: 100, count: 3 },
      { offset: 108, length: 50, count: 2 },
    ];
    expect(cutSplits('s', blocks, 1_000_000)).toEqual([
      { segmentKey: 's', startBlock: 0, endBlock: 2, startOffset: 8, endOffset: 158, records: 5 },
    ]);
  });
});

describe('planJob', () => {
  let dir: string;
  let store: ObjectStore;
  let codeHash: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-plan-'));
    store = await openStore(`file://${dir}`);
    // Three days: day 0 big (many 4 KiB blocks), days 1 and 2 small.
    await writeDataset(store, 'pv', { days: 1, perDay: 2000 });
    const appender = await import('../../core/dataset/dataset-appender.ts');
    const small = new appender.DatasetAppender(store, 'pv', { blockTargetBytes: 4096 });
    for (let d = 1; d <= 2; d++)
      for (let i = 0; i < 20; i++) await small.append({ d, i }, Date.UTC(2026, 0, 1 + d) + i);
    await small.commit();
    codeHash = await putBundle(store);
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts a big segment into several splits and small ones into one each, covering every block and record once', async () => {
    const target = 64 * 1024;
    const plan = await planJob(store, specFor(codeHash), { splitTargetBytes: target });
    const segments = await listSegments(store, 'pv');
    expect(plan.input.segments.map((s) => s.key)).toEqual(segments.map((s) => s.key));
    let records = 0;
    for (const seg of segments) {
      const footer = await readSegmentFooter(store, seg.key, seg.size);
      const mine = plan.splits.filter((s) => s.segmentKey === seg.key);
      if (footer.records > 1000) expect(mine.length).toBeGreaterThanOrEqual(3);
      else expect(mine.length).toBe(1);
      expect(mine.map((s) => [s.startBlock, s.endBlock]).flat()).toEqual([
        0,
        ...mine.slice(1).flatMap((s) => [s.startBlock, s.startBlock]),
        footer.blocks.length,
      ]);
      // Reading each split by its block range yields every record of the segment exactly once, in
      // order.
      const reader = await openSegment(store, seg.key, { size: seg.size });
      const all: unknown[] = [];
      for await (const r of reader.records()) all.push(r);
      const viaSplits: unknown[] = [];
      for (const s of mine) {
        expect(reader.blocksInByteRange(s.startOffset, s.endOffset)).toEqual({
          fromBlock: s.startBlock,
          toBlock: s.endBlock,
        });
        for await (const r of reader.records({ fromBlock: s.startBlock, toBlock: s.endBlock }))
          viaSplits.push(r);
      }
      expect(viaSplits).toEqual(all);
      records += footer.records;
    }
    expect(plan.splits.length).toBeGreaterThan(segments.length);
    expect(plan.inputRecords).toBe(records);
    expect(plan.splits.reduce((n, s) => n + s.records, 0)).toBe(records);
    expect(plan.inputBytes).toBe(segments.reduce((n, s) => n + s.size, 0));
    expect(plan.input.minTime).toBe(Date.UTC(2026, 0, 1));
  });

  it('prunes by date: only the days in [from, to] are read', async () => {
    const plan = await planJob(
      store,
      specFor(codeHash, { input: { dataset: 'pv', from: '2026-01-02', to: '2026-01-03' } }),
      { splitTargetBytes: 64 * 1024 },
    );
    expect(plan.input.segments.map((s) => s.key.split('/')[2])).toEqual([
      'dt=2026-01-02',
      'dt=2026-01-03',
    ]);
    expect(plan.inputRecords).toBe(40);
    const one = await planJob(
      store,
      specFor(codeHash, { input: { dataset: 'pv', from: '2026-01-03' } }),
      { splitTargetBytes: 64 * 1024 },
    );
    expect(one.splits.map((s) => s.segmentKey.split('/')[2])).toEqual(['dt=2026-01-03']);
  });

  it('an unknown dataset is STRATA_E_DATASET_NOT_FOUND', async () => {
    const err = await planJob(store, specFor(codeHash, { input: { dataset: 'nosuch' } }), {
      splitTargetBytes: 1 << 20,
    }).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_DATASET_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('nosuch');
  });

  it('a range with no data is STRATA_E_DATE_RANGE naming the days that exist; an inverted one too', async () => {
    const err = await planJob(
      store,
      specFor(codeHash, { input: { dataset: 'pv', from: '2025-06-01', to: '2025-06-30' } }),
      { splitTargetBytes: 1 << 20 },
    ).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_DATE_RANGE')).toBe(true);
    expect((err as Error).message).toContain('from 2025-06-01 to 2025-06-30');
    expect((err as Error).message).toContain('2026-01-01 to 2026-01-03');
    const inverted = await planJob(
      store,
      specFor(codeHash, { input: { dataset: 'pv', from: '2026-01-03', to: '2026-01-01' } }),
      { splitTargetBytes: 1 << 20 },
    ).catch((e: unknown) => e);
    expect(isStrataError(inverted, 'STRATA_E_DATE_RANGE')).toBe(true);
  });

  it('a bundle missing from the store is STRATA_E_BUNDLE naming its key', async () => {
    const err = await planJob(store, specFor('f'.repeat(64)), { splitTargetBytes: 1 << 20 }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_BUNDLE')).toBe(true);
    expect((err as Error).message).toContain(`code/${'f'.repeat(64)}.mjs`);
  });
});
