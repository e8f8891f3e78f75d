/**
 * A segment being written by pushing records in while a consumer (usually `store.put`) pulls the
 * bytes out, with backpressure: `write` returns a promise only when the consumer lags.
 *
 *   const writer = new SegmentWriter({ dataset: 'pv', blockTargetBytes: 256 * 1024 });
 *   const put = store.put('tmp/ingest/x/a.seg', writer.bytes);
 *   for (const r of records) await writer.write(r, Date.parse(r.time));
 *   const summary = writer.end();   // then: await put
 *
 * `abort(err)` makes the byte stream fail, so the consumer discards its partial object, and makes
 * any waiting or later `write` reject with `err`.
 */
import { StrataError } from '../errors.ts';
import {
  SegmentEncoder,
  type SegmentEncoderOptions,
  type SegmentSummary,
} from './segment-encoder.ts';
import type { SegmentRecord } from './segment-format.ts';

export interface SegmentWriterOptions extends SegmentEncoderOptions {
  /**
   * Queued, not yet consumed bytes above which `write` waits for the consumer. Default: four
   * blocks, so encoding overlaps the store's writes.
   */
  highWaterBytes?: number;
}

export class SegmentWriter {
  readonly bytes: AsyncIterable<Uint8Array>;
  readonly #encoder: SegmentEncoder;
  readonly #highWater: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #summary: SegmentSummary | undefined;
  /** The consumer waiting for a chunk. */
  #onData: (() => void) | undefined;
  /** Writers waiting for the consumer to drain the queue. */
  #drained: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #drainPromise: Promise<void> | undefined;

  constructor(options: SegmentWriterOptions) {
    this.#encoder = new SegmentEncoder(options);
    this.#highWater = options.highWaterBytes ?? 4 * (options.blockTargetBytes ?? 256 * 1024);
    this.bytes = { [Symbol.asyncIterator]: () => this.#iterator() };
  }

  /** Bytes produced so far (header and closed blocks), consumed or not. */
  get bytesWritten(): number {
    return this.#encoder.bytesOut;
  }

  get records(): number {
    return this.#encoder.records;
  }

  get summary(): SegmentSummary | undefined {
    return this.#summary;
  }

  write(record: SegmentRecord, time: number): void | Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new StrataError('STRATA_E_INTERNAL', 'SegmentWriter.write after end');
    const chunks = this.#encoder.add(record, time);
    if (!chunks) return;
    this.#push(chunks);
    if (this.#queuedBytes > this.#highWater) return this.#waitForDrain();
  }

  /** Closes the segment; the consumer receives the last bytes and then the end of the stream. */
  end(): SegmentSummary {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new StrataError('STRATA_E_INTERNAL', 'SegmentWriter.end called twice');
    const { chunks, summary } = this.#encoder.finish();
    this.#ended = true;
    this.#summary = summary;
    this.#push(chunks);
    return summary;
  }

  /** Fails the byte stream and every waiting or later write. Idempotent. */
  abort(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#drained?.reject(err);
    this.#drained = undefined;
    this.#wake();
  }

  #push(chunks: Uint8Array[]): void {
    for (const c of chunks) {
      this.#queue.push(c);
      this.#queuedBytes += c.length;
    }
    this.#wake();
  }

  #wake(): void {
    const wake = this.#onData;
    this.#onData = undefined;
    wake?.();
  }

  #waitForDrain(): Promise<void> {
    this.#drainPromise ??= new Promise<void>((resolve, reject) => {
      this.#drained = { resolve, reject };
    }).finally(() => {
      this.#drainPromise = undefined;
    });
    return this.#drainPromise;
  }

  async *#iterator(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.#error) throw this.#error;
        const chunk = this.#queue.shift();
        if (chunk) {
          this.#queuedBytes -= chunk.length;
          if (this.#queuedBytes === 0 && this.#drained) {
            this.#drained.resolve();
            this.#drained = undefined;
          }
          yield chunk;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#onData = resolve;
        });
      }
    } finally {
      // A consumer that stops early (its write failed) must not leave producers waiting forever.
      if (!this.#ended || this.#queue.length > 0)
        this.abort(
          new StrataError(
            'STRATA_E_STORE_IO',
            'the store stopped reading the segment before it was complete',
          ),
        );
    }
  }
}
