/**
 * Cuts one segment into byte-range splits on block boundaries, each about `targetBytes`.
 *
 *   cutSplits('master/pv/dt=2026-01-05/…seg', footer.blocks, 64 * 1024 * 1024)
 *   // [{ segmentKey, startBlock: 0, endBlock: 212, startOffset: 8, endOffset: 67_110_000, records: 301_234 }, …]
 *
 * Blocks are never cut (each decodes on its own, which is what makes byte-range splits work).
 * A split closes once it holds at least `targetBytes`, unless what is left of the segment is
 * under a tenth of that: then the tail joins it rather than becoming a tiny split of its own
 * (Hadoop's SPLIT_SLOP). Every block lands in exactly one split, in order. A segment with no
 * blocks gives no split.
 */
import type { BlockInfo } from '../../core/segment/segment-format.ts';
import type { Split } from '../../core/tasks/task-payload.ts';

const SLOP = 0.1;

export function cutSplits(
  segmentKey: string,
  blocks: readonly Pick<BlockInfo, 'offset' | 'length' | 'count'>[],
  targetBytes: number,
): Split[] {
  const after = new Array<number>(blocks.length + 1).fill(0);
  for (let i = blocks.length - 1; i >= 0; i--) after[i] = after[i + 1]! + blocks[i]!.length;
  const splits: Split[] = [];
  let start = 0;
  let bytes = 0;
  let records = 0;
  for (let i = 0; i < blocks.length; i++) {
    bytes += blocks[i]!.length;
    records += blocks[i]!.count;
    const rest = after[i + 1]!;
    const last = i === blocks.length - 1;
    if (last || (bytes >= targetBytes && rest >= targetBytes * SLOP)) {
      const end = blocks[i]!;
      splits.push({
        segmentKey,
        startBlock: start,
        endBlock: i + 1,
        startOffset: blocks[start]!.offset,
        endOffset: end.offset + end.length,
        records,
      });
      start = i + 1;
      bytes = 0;
      records = 0;
    }
  }
  return splits;
}
