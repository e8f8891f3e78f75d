/**
 * The speed layer's half of a realtime view: every committed record goes through the job's own
 * `map` and aggregator into the commit's bucket in Redis.
 *
 *   const folder = new RealtimeFolder({ redis, store, prefix, codeDir, log });
 *   await folder.onCommitted(commit);   // the group commit's hook: after the segment is durable, before the ack
 *
 * Because the hook runs before the acknowledgement, an acknowledged record is already in every
 * realtime view of its dataset. A record the user's map throws on (or emits a bad key for) is
 * skipped and counted, as the batch layer's bad-record budget skips it, so both layers agree.
 * A commit whose records are not in memory (recovery after a crash) is read back from its segments.
 */
import type { Redis } from 'ioredis';
import { CodeCache } from '../core/code/code-cache.ts';
import { loadJob } from '../core/code/load-bundle.ts';
import { parseSegmentKey } from '../core/dataset/dataset-layout.ts';
import {
  encodeKey,
  formatKey,
  keyId,
  toKey,
  type Key,
  type KeyPart,
} from '../core/keys/key-codec.ts';
import type { Logger } from '../core/log.ts';
import { openSegment } from '../core/segment/open-segment.ts';
import type { ObjectStore } from '../core/store/store.ts';
import type { AnyAggregator } from '../jobs/aggregators/aggregator.ts';
import type { JobContext, JobDefinition } from '../jobs/types.ts';
import type { CommittedCommit } from './commit-hook.ts';
import { getRealtimeView, type RealtimeRegistration } from './realtime-registry.ts';
import { RealtimeState, type Partial } from './realtime-state.ts';

export interface RealtimeFolderOptions {
  redis: Redis;
  store: ObjectStore;
  prefix: string;
  /** Where job bundles are cached on this machine. */
  codeDir: string;
  log?: Logger;
  /** Called with the number of records a view's map threw on (metrics). */
  onSkipped?: (view: string, records: number) => void;
}

/** Keys per change announcement; a bigger fold announces the first ones and how many more. */
const MAX_ANNOUNCED_KEYS = 1000;

export class RealtimeFolder {
  readonly #o: RealtimeFolderOptions;
  readonly #code: CodeCache;

  constructor(options: RealtimeFolderOptions) {
    this.#o = options;
    this.#code = new CodeCache(options.store, options.codeDir);
  }

  async onCommitted(commit: CommittedCommit): Promise<void> {
    for (const view of commit.views) {
      const reg = await getRealtimeView(this.#o.redis, this.#o.prefix, view);
      // Unregistered since the commit began: nothing serves this view's realtime part any more.
      if (!reg || reg.dataset !== commit.dataset) continue;
      const state = new RealtimeState(this.#o.redis, this.#o.prefix, view);
      const job = await loadJob(this.#code, reg.spec.codeHash);
      // Reading a commit back from the store is for recovery; a replay already folded needs none.
      const records =
        commit.records && coversAll(commit.segments, reg)
          ? commit.records
          : (await state.isFolded(commit.id))
            ? undefined
            : await this.#readBack(commit, reg);
      if (!records) continue;
      const { partials, skipped } = mapToPartials(job, reg, records, this.#o.log);
      if (skipped > 0) this.#o.onSkipped?.(view, skipped);
      const applied = await state.fold(
        commit.id,
        commit.bucket,
        partials,
        job.aggregate as AnyAggregator,
      );
      if (applied && partials.length > 0) await this.#announce(state, commit, partials);
    }
  }

  async #readBack(
    commit: CommittedCommit,
    reg: RealtimeRegistration,
  ): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const key of commit.segments) {
      if (!inRange(key, reg)) continue;
      const reader = await openSegment(this.#o.store, key);
      for await (const r of reader.records()) out.push(r);
    }
    return out;
  }

  async #announce(
    state: RealtimeState,
    commit: CommittedCommit,
    partials: readonly Partial[],
  ): Promise<void> {
    const keys = partials.slice(0, MAX_ANNOUNCED_KEYS).map((p) => p.key);
    const message = JSON.stringify({
      view: state.view,
      bucket: commit.bucket,
      commit: commit.id,
      keys: keys.map((k) => Buffer.from(k).toString('base64')),
      more: partials.length - keys.length,
    });
    try {
      await this.#o.redis.publish(state.channel, message);
    } catch (err) {
      this.#o.log?.warn(
        { err, view: state.view },
        'announcing changed keys failed; live clients miss this update',
      );
    }
  }
}

/** Runs the job's map over records and folds what it emits per key (the combiner of one commit). */
export function mapToPartials(
  job: JobDefinition<unknown, unknown, unknown>,
  reg: Pick<RealtimeRegistration, 'view' | 'spec'>,
  records: Iterable<Record<string, unknown>>,
  log?: Logger,
): { partials: Partial[]; skipped: number } {
  const agg = job.aggregate as AnyAggregator;
  const context: JobContext = Object.freeze({
    params: Object.freeze({ ...job.params, ...reg.spec.params }),
  });
  const byKey = new Map<string, Partial>();
  let skipped = 0;
  let pending: Array<[Uint8Array, unknown]> = [];
  const emit = (key: KeyPart | Key, value: unknown): void => {
    pending.push([encodeKey(toKey(key)), value]);
  };
  let position = 0;
  for (const record of records) {
    pending = [];
    try {
      job.map(record, emit, context);
      for (const [bytes, value] of pending) {
        const id = keyId(bytes);
        let p = byKey.get(id);
        if (!p) {
          p = { key: bytes, acc: agg.identity() };
          byKey.set(id, p);
        }
        p.acc = agg.add(p.acc, value);
      }
    } catch (err) {
      // A record counts wholly or not at all, like a skipped record in the batch layer.
      skipped++;
      if (skipped <= 3)
        log?.warn(
          {
            err,
            view: reg.view,
            position,
            emitted: pending.map(([k]) => formatKey(k)).slice(0, 3),
          },
          'realtime map skipped a record it threw on',
        );
    }
    position++;
  }
  return { partials: [...byKey.values()], skipped };
}

function inRange(segmentKey: string, reg: RealtimeRegistration): boolean {
  const from = reg.spec.input.from;
  if (from === undefined) return true;
  const name = parseSegmentKey(segmentKey);
  return name !== undefined && name.date >= from;
}

function coversAll(segments: readonly string[], reg: RealtimeRegistration): boolean {
  return segments.every((s) => inRange(s, reg));
}
