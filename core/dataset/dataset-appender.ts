/**
 * The one write path into the master dataset, used by `strata ingest` and by the speed layer.
 *
 *   const appender = new DatasetAppender(store, 'pageviews', { segmentTargetBytes, blockTargetBytes, timeField: 'time' });
 *   try {
 *     for (const r of records) await appender.append(r, eventTimeOf(r.time));
 *     const result = await appender.commit();   // every segment of this call becomes visible
 *   } catch (err) {
 *     await appender.abort();                   // master/ untouched, staged files deleted
 *     throw err;
 *   }
 *
 * Records (already validated, with their event time) go to one open segment per UTC day, each
 * streamed by `store.put` to `tmp/ingest/<id>/<date>-<n>.seg` as it is written. A segment closes at
 * `segmentTargetBytes`; when more than `maxOpenSegments` days are open at once, the least recently
 * written one is closed early (smaller segments instead of unbounded memory).
 *
 * Commit protocol (who calls what, how often):
 * - `append` (the caller, once per record) may return a promise: await it, the store is behind.
 * - `commit` (the caller, at most once) closes every segment, waits until all are durable in tmp/,
 *   then `store.copy`s each to `master/<dataset>/dt=<date>/<seq>-<sha256>.seg` (its name needs its
 *   hash, known only once written) and deletes the tmp/ files. The store refuses to overwrite a
 *   segment. Copies are one per segment, not one atomic step: if the store fails between two
 *   copies, the error lists the segments already committed.
 * - `abort` (the caller, on any failure; idempotent) fails the in-flight puts and deletes tmp/
 * files.
 */
import { randomBytes } from 'node:crypto';
import { StrataError, toStrataError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/store.ts';
import type { SegmentSummary } from '../segment/segment-encoder.ts';
import type { SegmentCodec, SegmentRecord } from '../segment/segment-format.ts';
import { SegmentWriter } from '../segment/segment-writer.ts';
import { nextSequence, segmentKey, utcDate } from './dataset-layout.ts';
import { assertDatasetName } from './dataset-name.ts';

export interface DatasetAppenderOptions {
  /** Close a segment once it reaches this many bytes (config.segmentTargetBytes). */
  segmentTargetBytes?: number;
  /** config.blockTargetBytes. */
  blockTargetBytes?: number;
  codec?: SegmentCodec;
  /** Recorded in each segment's footer. */
  timeField?: string;
  /** Days with an open segment at once. Default 16. */
  maxOpenSegments?: number;
  /** Name of the staging folder tmp/ingest/<id>/. Default: time and random. */
  id?: string;
  log?: Logger;
}

export interface CommittedSegment {
  key: string;
  date: string;
  records: number;
  bytes: number;
  sha256: string;
  minTime: number | null;
  maxTime: number | null;
}

export interface AppendResult {
  dataset: string;
  records: number;
  /** Bytes of the committed segments. */
  bytes: number;
  segments: CommittedSegment[];
}

interface Staged {
  tmpKey: string;
  date: string;
  writer: SegmentWriter;
  /** Settles when the put has finished; rejects with its error. */
  done: Promise<void>;
  lastUse: number;
}

type State = 'open' | 'committing' | 'committed' | 'aborted';

const DEFAULT_SEGMENT_TARGET = 128 * 1024 * 1024;

export class DatasetAppender {
  readonly dataset: string;
  readonly id: string;
  readonly #store: ObjectStore;
  readonly #options: DatasetAppenderOptions;
  readonly #segmentTarget: number;
  readonly #maxOpen: number;
  readonly #open = new Map<string, Staged>();
  readonly #all: Staged[] = [];
  #state: State = 'open';
  #uses = 0;
  #closedBytes = 0;
  #closedRecords = 0;

  constructor(store: ObjectStore, dataset: string, options: DatasetAppenderOptions = {}) {
    assertDatasetName(dataset);
    this.dataset = dataset;
    this.#store = store;
    this.#options = options;
    this.#segmentTarget = options.segmentTargetBytes ?? DEFAULT_SEGMENT_TARGET;
    this.#maxOpen = Math.max(1, options.maxOpenSegments ?? 16);
    this.id = options.id ?? `${Date.now()}-${randomBytes(6).toString('hex')}`;
  }

  /** Records appended so far. */
  get records(): number {
    let n = this.#closedRecords;
    for (const s of this.#open.values()) n += s.writer.records;
    return n;
  }

  /** Segment bytes produced so far (closed blocks). */
  get bytesWritten(): number {
    let n = this.#closedBytes;
    for (const s of this.#open.values()) n += s.writer.bytesWritten;
    return n;
  }

  /** The staged tmp/ keys so far (for tests and for cleaning up after a crash). */
  get stagedKeys(): string[] {
    return this.#all.map((s) => s.tmpKey);
  }

  /**
   * Adds a record with its event time (ms). Returns a promise only when the store is behind: await
   * it.
   */
  append(record: SegmentRecord, time: number): void | Promise<void> {
    if (this.#state !== 'open')
      throw new StrataError('STRATA_E_INTERNAL', `DatasetAppender.append after ${this.#state}`);
    const date = utcDate(time);
    let staged = this.#open.get(date);
    if (!staged) {
      if (this.#open.size >= this.#maxOpen) this.#close(this.#leastRecentlyUsed());
      staged = this.#start(date);
    }
    staged.lastUse = ++this.#uses;
    const wait = staged.writer.write(record, time);
    if (staged.writer.bytesWritten >= this.#segmentTarget) this.#close(staged);
    return wait;
  }

  async commit(): Promise<AppendResult> {
    if (this.#state !== 'open')
      throw new StrataError('STRATA_E_INTERNAL', `DatasetAppender.commit after ${this.#state}`);
    this.#state = 'committing';
    try {
      for (const staged of [...this.#open.values()]) this.#close(staged);
      const settled = await Promise.allSettled(this.#all.map((s) => s.done));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (err) {
      this.#state = 'open';
      await this.abort(err);
      throw toStrataError(err, 'STRATA_E_STORE_IO');
    }
    const segments: CommittedSegment[] = [];
    try {
      for (const staged of this.#all) {
        const s = staged.writer.summary!;
        const key = segmentKey(this.dataset, staged.date, nextSequence(), s.sha256);
        await this.#store.copy(staged.tmpKey, key);
        segments.push(committed(key, staged.date, s));
      }
    } catch (err) {
      this.#state = 'open';
      await this.abort(err);
      const e = toStrataError(err, 'STRATA_E_STORE_IO');
      if (segments.length === 0) throw e;
      // Those segments are in master/ for good (it is immutable): say exactly what is there, so the
      // user re-ingests only the rest instead of repeating all of it and counting some records
      // twice.
      const days = [...new Set(segments.map((s) => s.date))].sort();
      throw new StrataError(
        e.code,
        `commit to ${this.dataset} failed after ${segments.length} of ${this.#all.length} segments were committed (${segments.map((s) => s.key).join(', ')}): ${e.message}. The records of ${days.join(', ')} in those segments are stored; re-ingesting the whole input would store them twice, so ingest only the records that are not in them`,
        {
          cause: e,
          details: { committed: segments.map((s) => s.key) },
        },
      );
    }
    this.#state = 'committed';
    await this.#deleteStaged();
    return {
      dataset: this.dataset,
      records: segments.reduce((n, s) => n + s.records, 0),
      bytes: segments.reduce((n, s) => n + s.bytes, 0),
      segments,
    };
  }

  /**
   * Fails in-flight writes and deletes every staged file. Nothing under master/ is touched. No-op
   * once committed or aborted.
   */
  async abort(reason?: unknown): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    const err =
      reason instanceof Error
        ? reason
        : new StrataError('STRATA_E_INTERNAL', `ingest into ${this.dataset} was aborted`);
    for (const s of this.#all) s.writer.abort(err);
    this.#open.clear();
    await Promise.allSettled(this.#all.map((s) => s.done));
    await this.#deleteStaged();
  }

  #start(date: string): Staged {
    const tmpKey = `tmp/ingest/${this.id}/${date}-${this.#all.length}.seg`;
    const writer = new SegmentWriter({
      dataset: this.dataset,
      ...(this.#options.blockTargetBytes !== undefined
        ? { blockTargetBytes: this.#options.blockTargetBytes }
        : {}),
      ...(this.#options.codec !== undefined ? { codec: this.#options.codec } : {}),
      ...(this.#options.timeField !== undefined ? { timeField: this.#options.timeField } : {}),
    });
    const done = this.#store.put(tmpKey, writer.bytes).then(
      () => undefined,
      (err: unknown) => {
        // A store failure must reach the appending caller, not leave it waiting on backpressure.
        writer.abort(err instanceof Error ? err : new Error(String(err)));
        throw err;
      },
    );
    done.catch(() => {}); // observed in commit/abort
    const staged: Staged = { tmpKey, date, writer, done, lastUse: 0 };
    this.#open.set(date, staged);
    this.#all.push(staged);
    this.#options.log?.debug({ tmpKey }, 'segment started');
    return staged;
  }

  #close(staged: Staged): void {
    this.#open.delete(staged.date);
    const summary = staged.writer.end();
    this.#closedBytes += summary.bytes;
    this.#closedRecords += summary.records;
  }

  #leastRecentlyUsed(): Staged {
    let oldest: Staged | undefined;
    for (const s of this.#open.values()) if (!oldest || s.lastUse < oldest.lastUse) oldest = s;
    return oldest!;
  }

  async #deleteStaged(): Promise<void> {
    for (const s of this.#all) {
      try {
        await this.#store.delete(s.tmpKey);
      } catch (err) {
        // tmp/ is scratch space; a leftover file there is harmless, a lost commit would not be.
        this.#options.log?.warn({ err, key: s.tmpKey }, 'could not delete a staged segment');
      }
    }
  }
}

function committed(key: string, date: string, s: SegmentSummary): CommittedSegment {
  return {
    key,
    date,
    records: s.records,
    bytes: s.bytes,
    sha256: s.sha256,
    minTime: s.minTime,
    maxTime: s.maxTime,
  };
}
