/**
 * The k-way merge: several sorted streams in, one sorted stream out, batch by batch.
 *
 *   const merged = kWayMerge([runA.entries(3), runB.entries(3), fetchPartition(addr, req)], compareEntries);
 *   for await (const batch of merged) for (const [key, value] of batch) …;   // ascending keys
 *
 * Sources yield arrays (a run-file frame, a shuffle chunk), so the merge pays one await per
 * source batch, not per entry. It is stable: equal items come out in source order, and in their
 * order within a source. That is what makes a cluster reduce see a key's values in the same
 * order as runLocal (map outputs in split order, spills in spill order).
 *
 * Backpressure: a source is asked for its next batch only when the merge has used up the
 * previous one and the consumer is still pulling. When the consumer stops early, or a source
 * fails, every unfinished source is closed (`return()`), which cancels a shuffle stream.
 */

export type Compare<T> = (a: T, b: T) => number;
export type BatchSource<T> = AsyncIterable<readonly T[]> | Iterable<readonly T[]>;

export interface KWayMergeOptions {
  /** Items per output batch. Default 1024. */
  batchSize?: number;
}

interface Cursor<T> {
  source: number;
  batch: readonly T[];
  pos: number;
  iterator: AsyncIterator<readonly T[]> | Iterator<readonly T[]>;
}

export async function* kWayMerge<T>(
  sources: ReadonlyArray<BatchSource<T>>,
  compare: Compare<T>,
  options: KWayMergeOptions = {},
): AsyncGenerator<T[]> {
  const batchSize = options.batchSize ?? 1024;
  const open = new Set<Cursor<T>>();
  const less = (a: Cursor<T>, b: Cursor<T>): boolean => {
    const c = compare(a.batch[a.pos]!, b.batch[b.pos]!);
    return c < 0 || (c === 0 && a.source < b.source);
  };
  const heap: Cursor<T>[] = [];
  try {
    const cursors = sources.map((s, source): Cursor<T> => {
      const iterator =
        Symbol.asyncIterator in s
          ? (s as AsyncIterable<readonly T[]>)[Symbol.asyncIterator]()
          : (s as Iterable<readonly T[]>)[Symbol.iterator]();
      const cursor = { source, batch: [], pos: 0, iterator };
      open.add(cursor);
      return cursor;
    });
    // The first batch of every source at once: for shuffle streams, M round trips overlap.
    const started = await Promise.all(cursors.map((c) => refill(c, open)));
    for (let i = 0; i < cursors.length; i++) if (started[i]) push(heap, cursors[i]!, less);

    let out: T[] = [];
    while (heap.length > 1) {
      const top = heap[0]!;
      out.push(top.batch[top.pos++]!);
      if (top.pos === top.batch.length) {
        if (!(await refill(top, open))) {
          // heap.length > 1, so the last element is not `top`: it takes top's place.
          heap[0] = heap.pop()!;
        }
      }
      siftDown(heap, 0, less);
      if (out.length >= batchSize) {
        yield out;
        out = [];
      }
    }
    // One source left: hand its batches on as they are.
    const last = heap[0];
    if (last) {
      out.push(...last.batch.slice(last.pos));
      if (out.length > 0) yield out;
      out = [];
      for (;;) {
        const next = await last.iterator.next();
        if (next.done) {
          open.delete(last);
          break;
        }
        if (next.value.length > 0) yield next.value.slice();
      }
    } else if (out.length > 0) {
      yield out;
    }
  } finally {
    // Stopped early or failed: release what is still open (a shuffle stream is cancelled). Not
    // awaited: a source with a read still pending would only run its return() after that read.
    for (const c of open) void Promise.resolve(c.iterator.return?.()).catch(() => {});
  }
}

/** Loads the cursor's next non-empty batch; false (and closed) at the end of its source. */
async function refill<T>(cursor: Cursor<T>, open: Set<Cursor<T>>): Promise<boolean> {
  for (;;) {
    const next = await cursor.iterator.next();
    if (next.done) {
      open.delete(cursor);
      return false;
    }
    if (next.value.length > 0) {
      cursor.batch = next.value;
      cursor.pos = 0;
      return true;
    }
  }
}

function push<T>(heap: T[], item: T, less: (a: T, b: T) => boolean): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!less(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function siftDown<T>(heap: T[], i: number, less: (a: T, b: T) => boolean): void {
  const n = heap.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) return;
    const r = l + 1;
    const smallest = r < n && less(heap[r]!, heap[l]!) ? r : l;
    if (!less(heap[smallest]!, heap[i]!)) return;
    [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
    i = smallest;
  }
}
