/**
 * A realtime view's state in Redis: per bucket, per key, one encoded aggregator accumulator.
 *
 *   const state = new RealtimeState(redis, prefix, 'pageviews');
 *   await state.fold(commitId, bucket, partials, agg);       // once per commit, idempotent
 *   const { buckets, values } = await state.read(boundary, [keyBytes]);  // buckets > boundary
 *   await state.drop(upToBucket);                              // covered by kept batch versions
 *
 * Keys (p = prefix, v = view):
 *   p:rt:v:b:<bucket>  hash  encoded key (bytes) → msgpack(encoded accumulator)
 *   p:rt:v:buckets     zset  bucket ids present (score = id)
 *   p:rt:v:keys        zset  every encoded key present, score 0 (so ZRANGEBYLEX serves prefix scans
 *                            in key order: encoded keys sort bytewise like their tuples)
 *   p:rt:v:folded      zset  commit ids folded (score = bucket): makes fold exactly-once
 *   p:rt:v:changes     channel  the keys each fold changed (live updates)
 *
 * One writer: the speed leader folds commits of a dataset one at a time, so a fold's
 * read-merge-write cannot interleave with another on the same view. The write and the folded
 * marker go in one MULTI, so a crash leaves either all of a commit's fold or none of it.
 */
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { StrataError } from '../core/errors.ts';
import { speedScripts } from './speed-scripts.ts';
import {
  decodeAccumulator,
  encodeAccumulator,
  type AnyAggregator,
} from '../jobs/aggregators/aggregator.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
/** Fields per HMGET / HSET, so one command never carries an unbounded argument list. */
const CHUNK = 5000;

export interface Partial {
  key: Uint8Array;
  acc: unknown;
}

export interface RealtimeRead {
  /** Buckets after the boundary that exist, ascending. */
  buckets: number[];
  /** Per asked key, the encoded accumulators found in those buckets (possibly none). */
  values: Buffer[][];
}

export const realtimeKeyPrefix = (prefix: string, view: string): string => `${prefix}:rt:${view}:`;
export const realtimeChangesChannel = (prefix: string, view: string): string =>
  `${prefix}:rt:${view}:changes`;

export class RealtimeState {
  readonly #redis: Redis;
  readonly #base: string;
  readonly view: string;
  readonly channel: string;

  constructor(redis: Redis, prefix: string, view: string) {
    this.#redis = redis;
    this.#base = realtimeKeyPrefix(prefix, view);
    this.view = view;
    this.channel = realtimeChangesChannel(prefix, view);
  }

  get #buckets(): string {
    return `${this.#base}buckets`;
  }
  get #keys(): string {
    return `${this.#base}keys`;
  }
  get #folded(): string {
    return `${this.#base}folded`;
  }
  #bucket(b: number): string {
    return `${this.#base}b:${b}`;
  }

  async isFolded(commitId: number): Promise<boolean> {
    return (await this.#redis.zscore(this.#folded, String(commitId))) !== null;
  }

  /**
   * Merges one commit's partial accumulators into its bucket, exactly once per commit id.
   * Returns false when the commit was folded before (a recovery replay).
   */
  async fold(
    commitId: number,
    bucket: number,
    partials: readonly Partial[],
    agg: AnyAggregator,
  ): Promise<boolean> {
    if (await this.isFolded(commitId)) return false;
    const hash = this.#bucket(bucket);
    const tx = this.#redis.multi();
    for (let i = 0; i < partials.length; i += CHUNK) {
      const chunk = partials.slice(i, i + CHUNK);
      const fields = chunk.map((p) =>
        Buffer.from(p.key.buffer, p.key.byteOffset, p.key.byteLength),
      );
      const existing = await this.#redis.hmgetBuffer(hash, ...fields);
      const args: Buffer[] = [];
      chunk.forEach((p, j) => {
        const before = existing[j];
        const acc = before ? agg.merge(decodeAccumulator(agg, packr.unpack(before)), p.acc) : p.acc;
        args.push(fields[j]!, packr.pack(encodeAccumulator(agg, acc)));
      });
      tx.hset(hash, ...args);
      tx.zadd(this.#keys, ...fields.flatMap((f) => ['0', f] as [string, Buffer]));
    }
    tx.zadd(this.#buckets, String(bucket), String(bucket));
    tx.zadd(this.#folded, String(bucket), String(commitId));
    const result = await tx.exec();
    const failed = result?.find(([err]) => err);
    if (!result || failed) {
      throw new StrataError(
        'STRATA_E_REALTIME_STATE',
        `folding commit ${commitId} into realtime view ${this.view} failed: ${failed?.[0]?.message ?? 'the transaction was aborted'}`,
        {
          details: { view: this.view, commitId, bucket },
        },
      );
    }
    return true;
  }

  /** Every encoded accumulator for `keys` in buckets after `boundary`. */
  async read(boundary: number, keys: readonly Uint8Array[]): Promise<RealtimeRead> {
    if (keys.length === 0) return { buckets: [], values: [] };
    const args = keys.map((k) => Buffer.from(k.buffer, k.byteOffset, k.byteLength));
    const [buckets, values] = (await speedScripts(this.#redis).rtRead.buffer(
      this.#buckets,
      String(boundary),
      `${this.#base}b:`,
      ...args,
    )) as [Buffer[], Buffer[][]];
    return { buckets: buckets.map((b) => Number(b.toString())), values };
  }

  /** Keys present in realtime buckets, in key order, within [start, end) and after `after`. */
  async keysInRange(
    start: Uint8Array,
    end: Uint8Array | undefined,
    after: Uint8Array | undefined,
    limit: number,
  ): Promise<Uint8Array[]> {
    const lo = after
      ? Buffer.concat([Buffer.from('('), after])
      : Buffer.concat([Buffer.from('['), start]);
    const hi = end ? Buffer.concat([Buffer.from('('), end]) : Buffer.from('+');
    const found = await this.#redis.zrangebylexBuffer(
      this.#keys,
      lo,
      hi,
      'LIMIT',
      '0',
      String(limit),
    );
    return found.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  }

  /**
   * Drops every bucket ≤ `upTo` (covered by every batch version a server may still answer from).
   */
  async drop(upTo: number): Promise<number> {
    return Number(
      await speedScripts(this.#redis).rtDrop(
        this.#buckets,
        this.#keys,
        this.#folded,
        String(upTo),
        `${this.#base}b:`,
      ),
    );
  }

  async bucketIds(): Promise<number[]> {
    return (await this.#redis.zrange(this.#buckets, '0', '-1')).map((b) => Number(b));
  }

  /** Removes the whole state (the view was unregistered). */
  async clear(): Promise<void> {
    const ids = await this.bucketIds();
    await this.#redis.del(
      this.#buckets,
      this.#keys,
      this.#folded,
      ...ids.map((b) => this.#bucket(b)),
    );
  }
}

/** One accumulator from the encoded ones a read returned (identity when there are none). */
export function mergeEncoded(agg: AnyAggregator, encoded: readonly Uint8Array[]): unknown {
  let acc = agg.identity();
  for (const e of encoded) acc = agg.merge(acc, decodeAccumulator(agg, packr.unpack(e)));
  return acc;
}
