/**
 * Turns records into segment bytes, one block at a time: the synchronous heart of every writer.
 *
 *   const enc = new SegmentEncoder({ dataset: 'pageviews', blockTargetBytes: 256 * 1024 });
 *   for (const r of records) for (const chunk of enc.add(r, Date.parse(r.time)) ?? []) out.write(chunk);
 *   const { chunks, summary } = enc.finish();   // summary.sha256, summary.footer
 *
 * It holds at most one block of records. A block is closed when its estimated encoded size reaches
 * `blockTargetBytes`; the estimate is the running bytes-per-record of the blocks so far (encoding
 * records one by one to measure them exactly would halve the encode speed). The SHA-256 and the
 * footer statistics are computed as the bytes go out, so nothing is read back.
 */
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { StrataError } from '../errors.ts';
import {
  CODECS,
  END_MARKER_SIZE,
  SEGMENT_VERSION,
  encodeBlockHeader,
  encodeFooter,
  encodeHeader,
  packRecords,
  type BlockInfo,
  type SegmentCodec,
  type SegmentFooter,
  type SegmentRecord,
} from './segment-format.ts';

export interface SegmentEncoderOptions {
  /** The dataset the segment belongs to; recorded in the footer. */
  dataset: string;
  /**
   * Close a block once its records are estimated to encode to this many bytes
   * (config.blockTargetBytes).
   */
  blockTargetBytes?: number;
  /** Also close a block at this many records, whatever their size. */
  maxBlockRecords?: number;
  codec?: SegmentCodec;
  /** The record field event times come from; recorded in the footer for readers. */
  timeField?: string;
}

export interface SegmentSummary {
  sha256: string;
  bytes: number;
  records: number;
  blocks: number;
  minTime: number | null;
  maxTime: number | null;
  footer: SegmentFooter;
}

export interface TimedRecord {
  record: SegmentRecord;
  /** Event time, ms since the epoch. */
  time: number;
}

const DEFAULT_BLOCK_TARGET = 256 * 1024;
const MAX_FIELDS = 256;
const SAMPLED_RECORDS = 100;

export class SegmentEncoder {
  readonly #dataset: string;
  readonly #target: number;
  readonly #maxRecords: number;
  readonly #codec: number;
  readonly #timeField: string | undefined;
  readonly #hash: Hash = createHash('sha256');
  readonly #blocks: BlockInfo[] = [];
  readonly #fields = new Set<string>();
  #pending: unknown[] = [];
  #pendingMin = Infinity;
  #pendingMax = -Infinity;
  #bytesPerRecord = 0;
  #offset = 0;
  #records = 0;
  #finished = false;

  constructor(options: SegmentEncoderOptions) {
    this.#dataset = options.dataset;
    this.#target = options.blockTargetBytes ?? DEFAULT_BLOCK_TARGET;
    this.#maxRecords = options.maxBlockRecords ?? 1 << 20;
    this.#codec = CODECS[options.codec ?? 'none'];
    this.#timeField = options.timeField;
  }

  /** Bytes handed out so far (header and closed blocks). */
  get bytesOut(): number {
    return this.#offset;
  }

  get records(): number {
    return this.#records + this.#pending.length;
  }

  /** Adds one record; returns the chunks of a block when this record closed one. */
  add(record: SegmentRecord, time: number): Uint8Array[] | undefined {
    if (this.#finished)
      throw new StrataError('STRATA_E_INTERNAL', 'SegmentEncoder.add after finish');
    if (!Number.isFinite(time))
      throw new StrataError('STRATA_E_INTERNAL', `event time ${time} is not a finite number of ms`);
    if (this.#bytesPerRecord === 0) this.#bytesPerRecord = packRecords([record]).length;
    if (this.#records + this.#pending.length < SAMPLED_RECORDS || this.#pending.length === 0)
      this.#sampleFields(record);
    this.#pending.push(record);
    if (time < this.#pendingMin) this.#pendingMin = time;
    if (time > this.#pendingMax) this.#pendingMax = time;
    if (
      this.#pending.length * this.#bytesPerRecord >= this.#target ||
      this.#pending.length >= this.#maxRecords
    )
      return this.#flush();
    return undefined;
  }

  /** Closes the last block and appends the end marker, footer and trailer. */
  finish(): { chunks: Uint8Array[]; summary: SegmentSummary } {
    if (this.#finished)
      throw new StrataError('STRATA_E_INTERNAL', 'SegmentEncoder.finish called twice');
    const chunks = this.#flush() ?? [];
    this.#finished = true;
    const minTime = this.#blocks.length
      ? this.#blocks.reduce((m, b) => Math.min(m, b.minTime), Infinity)
      : null;
    const maxTime = this.#blocks.length
      ? this.#blocks.reduce((m, b) => Math.max(m, b.maxTime), -Infinity)
      : null;
    const footer: SegmentFooter = {
      format: SEGMENT_VERSION,
      dataset: this.#dataset,
      records: this.#records,
      minTime,
      maxTime,
      ...(this.#timeField !== undefined ? { timeField: this.#timeField } : {}),
      fields: [...this.#fields].sort(),
      created: Date.now(),
      blocks: this.#blocks,
    };
    chunks.push(this.#emit(new Uint8Array(END_MARKER_SIZE)), this.#emit(encodeFooter(footer)));
    const summary: SegmentSummary = {
      sha256: this.#hash.digest('hex'),
      bytes: this.#offset,
      records: this.#records,
      blocks: this.#blocks.length,
      minTime,
      maxTime,
      footer,
    };
    return { chunks, summary };
  }

  #flush(): Uint8Array[] | undefined {
    const chunks: Uint8Array[] = [];
    if (this.#offset === 0) chunks.push(this.#emit(encodeHeader()));
    const records = this.#pending;
    if (records.length === 0) return chunks.length ? chunks : undefined;
    const packed = packRecords(records);
    // Later blocks are sized by what earlier ones really took.
    this.#bytesPerRecord = Math.max(1, packed.length / records.length);
    const payload = this.#codec === CODECS.deflate ? zlib.deflateRawSync(packed) : packed;
    const head = encodeBlockHeader(payload, this.#codec, records.length);
    const offset = this.#offset;
    chunks.push(this.#emit(head), this.#emit(payload));
    this.#blocks.push({
      offset,
      length: head.length + payload.length,
      count: records.length,
      minTime: this.#pendingMin,
      maxTime: this.#pendingMax,
    });
    this.#records += records.length;
    this.#pending = [];
    this.#pendingMin = Infinity;
    this.#pendingMax = -Infinity;
    return chunks;
  }

  #emit(bytes: Uint8Array): Uint8Array {
    this.#hash.update(bytes);
    this.#offset += bytes.length;
    return bytes;
  }

  #sampleFields(record: SegmentRecord): void {
    if (this.#fields.size >= MAX_FIELDS) return;
    for (const name in record) {
      this.#fields.add(name);
      if (this.#fields.size >= MAX_FIELDS) return;
    }
  }
}

/**
 * Pull-style encoding: yields the segment's bytes and returns its summary.
 *
 *   const gen = encodeSegment(records, { dataset: 'pv' });
 *   await store.put(key, gen);   // or iterate by hand and read the generator's return value
 */
export async function* encodeSegment(
  records: AsyncIterable<TimedRecord> | Iterable<TimedRecord>,
  options: SegmentEncoderOptions,
): AsyncGenerator<Uint8Array, SegmentSummary, undefined> {
  const encoder = new SegmentEncoder(options);
  for await (const { record, time } of records) {
    const chunks = encoder.add(record, time);
    if (chunks) yield* chunks;
  }
  const { chunks, summary } = encoder.finish();
  yield* chunks;
  return summary;
}
