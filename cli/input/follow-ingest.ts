/**
 * `strata ingest --follow` as a library call: the lines of a growing NDJSON file (or of stdin)
 * go to the speed layer in batches, each acknowledged once durable, until `signal` is aborted
 * (or stdin ends).
 *
 *   const stop = new AbortController();
 *   const summary = await followIngest({ path: 'ticks.ndjson', dataset: 'ticks', client, signal: stop.signal, onProgress, onRetry });
 *   summary.records        // acknowledged
 *
 * One batch is in flight at a time while the next is read. A batch is sent when it reaches
 * `batchRecords` or `batchBytes`, or when its oldest line has waited `flushMs`. A batch that
 * fails for a reason that may pass (the speed layer down, a commit that failed) is sent again,
 * the same bytes, after a growing pause, and each retry is reported; a bad record stops the
 * follow with the file line. On stop, the batch in flight is answered first (acknowledged or
 * failed, not retried); lines read but not acknowledged are counted in the summary.
 */
import { isStrataError, StrataError } from '../../core/errors.ts';
import type { SpeedAck, SpeedClient } from '../speed-client.ts';
import { followLines } from './follow-lines.ts';

export interface FollowIngestOptions {
  path: string;
  dataset: string;
  client: SpeedClient;
  signal: AbortSignal;
  timeField?: string;
  /** Stamp records that lack the time field with the ingest time. */
  ingestTime?: boolean;
  stdin?: AsyncIterable<Uint8Array>;
  /** Default 5000. */
  batchRecords?: number;
  /** Default 1 MiB (well below the server's body limit). */
  batchBytes?: number;
  /** Default 100 ms. */
  flushMs?: number;
  /** First pause before a retry (doubling up to retryMaxMs). Default 250 ms. */
  retryFirstMs?: number;
  /** Default 10 000 ms. */
  retryMaxMs?: number;
  /** File polling interval when the file watch is silent. Default 250 ms. */
  pollMs?: number;
  /** Called about once a second, and at the end. */
  onProgress?: (p: FollowProgress) => void;
  onRetry?: (r: FollowRetry) => void;
  /** Truncation, rotation, a commit that failed after storing its records. */
  onNotice?: (message: string) => void;
}

export interface FollowProgress {
  records: number;
  batches: number;
  retries: number;
  /** Acknowledged records per second since the start. */
  recordsPerSecond: number;
  /** Read and not yet acknowledged. */
  pending: number;
  last?: SpeedAck;
}

export interface FollowRetry {
  records: number;
  firstLine: number;
  lastLine: number;
  attempt: number;
  delayMs: number;
  error: StrataError;
}

export interface FollowSummary {
  dataset: string;
  input: string;
  records: number;
  batches: number;
  retries: number;
  elapsedMs: number;
  recordsPerSecond: number;
  /** Lines read but not acknowledged when the follow stopped. */
  unacknowledged: number;
  stoppedBy: 'signal' | 'end';
}

interface Batch {
  lines: string[];
  lineNumbers: number[];
  bytes: number;
}

export async function followIngest(o: FollowIngestOptions): Promise<FollowSummary> {
  const batchRecords = o.batchRecords ?? 5000;
  const batchBytes = o.batchBytes ?? 1024 * 1024;
  const flushMs = o.flushMs ?? 100;
  const started = performance.now();
  const input = o.path === '-' ? 'stdin' : o.path;

  // Read-ahead queue between the reader and the sender.
  let queue: Batch = { lines: [], lineNumbers: [], bytes: 0 };
  let oldest = 0;
  let readerDone = false;
  let readerError: unknown;
  // The reader and the sender wait on each other: each change wakes every waiter.
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const changed = (ms?: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  // The reader stops on the caller's signal, and when the sender gives up.
  const stopReading = new AbortController();
  const onAbort = () => {
    stopReading.abort();
    notify();
  };
  o.signal.addEventListener('abort', onAbort, { once: true });

  const reader = (async () => {
    try {
      for await (const chunk of followLines({
        path: o.path,
        signal: stopReading.signal,
        ...(o.stdin ? { stdin: o.stdin } : {}),
        ...(o.pollMs ? { pollMs: o.pollMs } : {}),
        ...(o.onNotice ? { onNotice: o.onNotice } : {}),
      })) {
        if (queue.lines.length === 0) oldest = performance.now();
        for (let i = 0; i < chunk.lines.length; i++) {
          queue.lines.push(chunk.lines[i]!);
          queue.lineNumbers.push(chunk.lineNumbers[i]!);
          queue.bytes += chunk.lines[i]!.length + 1;
        }
        notify();
        // Backpressure: read ahead a few batches, no more.
        while (
          (queue.lines.length >= 4 * batchRecords || queue.bytes >= 4 * batchBytes) &&
          !stopReading.signal.aborted
        )
          await changed();
      }
    } catch (err) {
      readerError = err;
    } finally {
      readerDone = true;
      notify();
    }
  })();

  let records = 0;
  let batches = 0;
  let retries = 0;
  let last: SpeedAck | undefined;
  const progress = (): FollowProgress => ({
    records,
    batches,
    retries,
    recordsPerSecond: records / Math.max(0.001, (performance.now() - started) / 1000),
    pending: queue.lines.length,
    ...(last ? { last } : {}),
  });
  const ticker = o.onProgress ? setInterval(() => o.onProgress!(progress()), 1000) : undefined;

  const take = (): Batch => {
    let n = 0;
    let bytes = 0;
    while (
      n < queue.lines.length &&
      n < batchRecords &&
      (n === 0 || bytes + queue.lines[n]!.length + 1 <= batchBytes)
    )
      bytes += queue.lines[n++]!.length + 1;
    const batch = {
      lines: queue.lines.slice(0, n),
      lineNumbers: queue.lineNumbers.slice(0, n),
      bytes,
    };
    queue = {
      lines: queue.lines.slice(n),
      lineNumbers: queue.lineNumbers.slice(n),
      bytes: queue.bytes - bytes,
    };
    oldest = performance.now();
    notify(); // the reader may be waiting for room
    return batch;
  };

  try {
    for (;;) {
      if (o.signal.aborted) break;
      if (readerError) throw readerError;
      const full = queue.lines.length >= batchRecords || queue.bytes >= batchBytes;
      const due = queue.lines.length > 0 && (readerDone || performance.now() - oldest >= flushMs);
      if (!full && !due) {
        if (readerDone) break;
        await changed(
          queue.lines.length > 0 ? Math.max(1, flushMs - (performance.now() - oldest)) : undefined,
        );
        continue;
      }
      const batch = take();
      const ack = await sendWithRetry(batch, o, () => retries++);
      if (!ack) {
        // stopped during a retry pause: the batch was not acknowledged
        queue = {
          lines: [...batch.lines, ...queue.lines],
          lineNumbers: [...batch.lineNumbers, ...queue.lineNumbers],
          bytes: batch.bytes + queue.bytes,
        };
        break;
      }
      records += batch.lines.length;
      batches++;
      last = ack;
    }
  } finally {
    clearInterval(ticker);
    o.signal.removeEventListener('abort', onAbort);
    stopReading.abort();
    notify();
    await reader;
  }
  o.onProgress?.(progress());
  const elapsedMs = performance.now() - started;
  return {
    dataset: o.dataset,
    input,
    records,
    batches,
    retries,
    elapsedMs,
    recordsPerSecond: records / Math.max(0.001, elapsedMs / 1000),
    unacknowledged: queue.lines.length,
    stoppedBy: o.signal.aborted ? 'signal' : 'end',
  };
}

/**
 * The acknowledgement, or undefined when stopped before one came. Throws what retrying cannot fix.
 */
async function sendWithRetry(
  batch: Batch,
  o: FollowIngestOptions,
  countRetry: () => void,
): Promise<SpeedAck | undefined> {
  const body = `${batch.lines.join('\n')}\n`;
  const firstMs = o.retryFirstMs ?? 250;
  const maxMs = o.retryMaxMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await o.client.post(o.dataset, body, {
        ...(o.timeField ? { timeField: o.timeField } : {}),
        ...(o.ingestTime ? { ingestTime: true } : {}),
      });
    } catch (err) {
      if (isStrataError(err, 'STRATA_E_RECORD_INVALID'))
        throw atFileLine(err, batch, o.path === '-' ? 'stdin' : o.path);
      if (isStrataError(err) && err.details?.stored === 'yes') {
        // The commit stored the records and failed later (the realtime fold): resending would store
        // them twice.
        o.onNotice?.(
          `batch of lines ${batch.lineNumbers[0]}–${batch.lineNumbers.at(-1)} is stored but the speed layer reported: ${err.message}`,
        );
        return {
          records: batch.lines.length,
          commitId: Number(err.details.commitId ?? -1),
          bucket: Number(err.details.bucket ?? -1),
          segments: [],
        };
      }
      if (!(isStrataError(err) && err.retryable)) throw err;
      if (o.signal.aborted) return undefined;
      const delayMs = Math.min(maxMs, firstMs * 2 ** (attempt - 1));
      countRetry();
      o.onRetry?.({
        records: batch.lines.length,
        firstLine: batch.lineNumbers[0]!,
        lastLine: batch.lineNumbers.at(-1)!,
        attempt: attempt + 1,
        delayMs,
        error: err,
      });
      const stopped = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), delayMs);
        o.signal.addEventListener('abort', () => (clearTimeout(timer), resolve(true)), {
          once: true,
        });
      });
      if (stopped) return undefined;
    }
  }
}

/** The server names the record by its index in the batch; the user needs the line of the file. */
function atFileLine(err: StrataError, batch: Batch, input: string): StrataError {
  const index = Number(err.details?.index);
  const line = batch.lineNumbers[index];
  if (line === undefined) return err;
  const reason = err.message
    .replace(/^record \d+( \(line \d+\))?: /, '')
    .replace(/; nothing of this request was stored$/, '');
  return new StrataError(
    'STRATA_E_RECORD_INVALID',
    `${input} line ${line}: ${reason}; the batch of lines ${batch.lineNumbers[0]}–${batch.lineNumbers.at(-1)} was not stored (the lines before it were)`,
    {
      cause: err,
      details: { file: input, line, ...err.details },
    },
  );
}
