/**
 * The exact merge, where a request is answered: a realtime view's batch accumulator ⊕ the
 * realtime buckets after the version's boundary, finished with the job's aggregator.
 *
 *   const source = new RealtimeSource({ redis, prefix, store, codeDir });
 *   const merge = await source.forVersion(loaded);     // undefined for a plain batch view
 *   const answer = await merge.get(loaded, ['/home']);  // { value, sources } | undefined
 *
 * A version of a realtime view is made by the batch run that sealed the dataset at `boundary`
 * (spec.realtime): it holds every record of the buckets up to it, as accumulators. The speed
 * layer holds every later commit in its bucket. Both sides are read for every answer, so the
 * value equals a recomputation over every acknowledged event, and `sources` says how much came
 * from each. The bucket list and the values come from one Lua call, so an answer never mixes
 * a bucket half-dropped.
 */
import type { Redis } from 'ioredis';
import { CodeCache } from '../core/code/code-cache.ts';
import { loadJob } from '../core/code/load-bundle.ts';
import { StrataError } from '../core/errors.ts';
import {
  compareBytes,
  decodeKey,
  encodeKey,
  keyId,
  prefixRange,
  type Key,
  type KeyPart,
} from '../core/keys/key-codec.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { decodeAccumulator, type AnyAggregator } from '../jobs/aggregators/aggregator.ts';
import { mergeEncoded, RealtimeState } from '../speed/realtime-state.ts';
import type { LoadedVersion } from './loaded-version.ts';

export interface MergedAnswer {
  value: unknown;
  sources: AnswerSources;
}

/**
 * How much of an answer came from each layer: each side's own result, or null when it had nothing.
 */
export interface AnswerSources {
  batch: unknown;
  realtime: unknown;
  /** The last speed bucket the batch version covers. */
  boundary: number;
  /** Realtime buckets after the boundary that held this key. */
  buckets: number;
}

export interface MergedPage {
  entries: Array<[KeyPart[], unknown]>;
  sources: AnswerSources[];
  last?: Uint8Array;
}

/** What answers a key from the batch version: a LoadedVersion, or a ViewReader over the store. */
export interface KeyLookup {
  get(key: Key): Promise<unknown>;
}

export interface RealtimeSourceOptions {
  redis: Redis;
  prefix: string;
  store: ObjectStore;
  /** Where job bundles are cached (the aggregator comes from the job's own code). */
  codeDir: string;
}

export class RealtimeSource {
  readonly #o: RealtimeSourceOptions;
  readonly #code: CodeCache;

  constructor(options: RealtimeSourceOptions) {
    this.#o = options;
    this.#code = new CodeCache(options.store, options.codeDir);
  }

  /**
   * The merge for a loaded version (or a ViewReader), or undefined when it is a plain batch view.
   */
  async forVersion(
    v: Pick<LoadedVersion, 'view' | 'version' | 'manifest'>,
  ): Promise<RealtimeMerge | undefined> {
    const rt = v.manifest.job.realtime;
    if (!rt) return undefined;
    const job = await loadJob(this.#code, v.manifest.job.codeHash);
    if (!job.aggregate) {
      throw new StrataError(
        'STRATA_E_REALTIME_JOB',
        `version ${v.version} of view ${v.view} is a realtime version but its job ${job.name} has no aggregator`,
        { details: { view: v.view, version: v.version } },
      );
    }
    return new RealtimeMerge(
      new RealtimeState(this.#o.redis, this.#o.prefix, v.view),
      job.aggregate as AnyAggregator,
      rt.boundary,
    );
  }
}

export class RealtimeMerge {
  constructor(
    readonly state: RealtimeState,
    readonly agg: AnyAggregator,
    readonly boundary: number,
  ) {}

  async get(v: KeyLookup, key: Key): Promise<MergedAnswer | undefined> {
    return (await this.getMany(v, [key]))[0];
  }

  async getMany(v: KeyLookup, keys: readonly Key[]): Promise<Array<MergedAnswer | undefined>> {
    const encoded = keys.map((k) => encodeKey(k));
    const batch = await Promise.all(keys.map((k) => v.get(k)));
    return this.#combine(encoded, batch);
  }

  /** A prefix scan over the union of the batch version's keys and the realtime keys. */
  async scan(
    v: LoadedVersion,
    prefix: Key,
    limit: number,
    after?: Uint8Array,
  ): Promise<MergedPage> {
    const [page, rtKeys] = await Promise.all([
      v.scan(prefix, limit, after),
      this.#rtKeys(prefix, limit, after),
    ]);
    const batchByKey = new Map<string, unknown>();
    const all: Uint8Array[] = [];
    for (const [k, value] of page.entries) {
      const bytes = encodeKey(k);
      batchByKey.set(keyId(bytes), value);
      all.push(bytes);
    }
    for (const bytes of rtKeys) if (!batchByKey.has(keyId(bytes))) all.push(bytes);
    all.sort(compareBytes);
    // Each side gave its first `limit` keys after the cursor, so the union's first `limit` are the
    // page.
    const chosen = all.slice(0, limit);
    const answers = await this.#combine(
      chosen,
      chosen.map((b) => batchByKey.get(keyId(b))),
    );
    const entries: Array<[KeyPart[], unknown]> = [];
    const sources: AnswerSources[] = [];
    answers.forEach((a, i) => {
      if (!a) return;
      entries.push([decodeKey(chosen[i]!), a.value]);
      sources.push(a.sources);
    });
    const more = page.last !== undefined || rtKeys.length >= limit || all.length > limit;
    return more && chosen.length > 0
      ? { entries, sources, last: chosen[chosen.length - 1]!.slice() }
      : { entries, sources };
  }

  async #rtKeys(prefix: Key, limit: number, after?: Uint8Array): Promise<Uint8Array[]> {
    const { start, end } = prefixRange(prefix);
    const from = after && compareBytes(after, start) >= 0 ? after : undefined;
    return this.state.keysInRange(start, end, from, limit);
  }

  async #combine(
    encoded: readonly Uint8Array[],
    batch: readonly unknown[],
  ): Promise<Array<MergedAnswer | undefined>> {
    let read;
    try {
      read = await this.state.read(this.boundary, encoded);
    } catch (err) {
      throw new StrataError(
        'STRATA_E_REALTIME_STATE',
        `the realtime part of view ${this.state.view} could not be read from Redis (${(err as Error).message}); no answer is given rather than one without it`,
        {
          details: { view: this.state.view },
          cause: err,
        },
      );
    }
    const { agg } = this;
    return encoded.map((_, i) => {
      const b = batch[i];
      const rt = read.values[i] ?? [];
      if (b === undefined && rt.length === 0) return undefined;
      const batchAcc = b === undefined ? undefined : decodeAccumulator(agg, b);
      const rtAcc = mergeEncoded(agg, rt);
      // Each side's own result first: merge may update its first argument in place.
      const sources: AnswerSources = {
        batch: batchAcc === undefined ? null : agg.result(batchAcc),
        realtime: rt.length === 0 ? null : agg.result(rtAcc),
        boundary: this.boundary,
        buckets: rt.length,
      };
      const total = batchAcc === undefined ? rtAcc : agg.merge(batchAcc, rtAcc);
      return { value: agg.result(total), sources };
    });
  }
}
