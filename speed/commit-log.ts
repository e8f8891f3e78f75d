/**
 * The speed layer's commit protocol in Redis: numbers each group commit of a dataset, gives it a
 * realtime bucket from Redis's clock, and keeps it "in flight" until its segments are durable and
 * folded. The batch layer seals a dataset and waits until nothing at or below the sealed bucket is
 * in flight; then the segments with bucket ≤ sealed are exactly what it must read.
 *
 *   const log = new CommitLog(redis, { prefix: config.redisPrefix, bucketMs: config.speedBucketMs });
 *   const { record, registrations } = await log.begin('ticks', [{ date, seq, sha256 }], { records: 812 });
 *   await store.put(record.segments[0], bytes);          // named with record.bucket
 *   await log.complete('ticks', record.id);
 *
 *   const sealed = await log.seal('ticks');              // batch side
 *   await log.waitDrained('ticks', sealed, 30_000);      // STRATA_E_SPEED_IN_FLIGHT on timeout
 *
 * Who calls what, how often:
 * - begin (the speed leader's group commit, once per commit): atomically INCR id, bucket =
 *   max(floor(TIME / bucketMs), sealed + 1), record in flight, and read the realtime views of the
 *   dataset. Passing the lease token fences a leader that lost its lease.
 * - markStaged (group commit, once per multi-day commit): the tmp/ copies are durable.
 * - complete (group commit or recovery, once per commit): drops the in-flight record.
 * - seal / waitDrained (the batch layer, once per recomputation).
 * - listInflight / listDatasets (recovery at start, and anyone looking).
 *
 * Keys (p = prefix, ds = dataset): see the exported functions below; /work/notes/speed-design.md.
 */
import type { Redis } from 'ioredis';
import { segmentKey } from '../core/dataset/dataset-layout.ts';
import { StrataError } from '../core/errors.ts';
import { realtimeViewsKey, type RealtimeRegistration } from './realtime-registry.ts';
import { speedScripts, type SpeedScriptName } from './speed-scripts.ts';

export { realtimeViewsKey };

export const speedSeqKey = (prefix: string, dataset: string): string =>
  `${prefix}:speed:${dataset}:seq`;
export const speedSealedKey = (prefix: string, dataset: string): string =>
  `${prefix}:speed:${dataset}:sealed`;
export const speedInflightKey = (prefix: string, dataset: string): string =>
  `${prefix}:speed:${dataset}:inflight`;
/** Set of every dataset that ever had a speed commit (what recovery walks). */
export const speedDatasetsKey = (prefix: string): string => `${prefix}:speed:datasets`;
export const speedLeaderKey = (prefix: string): string => `${prefix}:speed:leader`;

/**
 * A segment of a commit before its bucket is known: its master key is segmentKey(ds, date, seq,
 * sha256, bucket).
 */
export interface PlannedSegment {
  date: string;
  seq: string;
  sha256: string;
}

export interface StagedCopy {
  from: string;
  to: string;
}

/** One in-flight commit, as kept in `<p>:speed:<ds>:inflight`. */
export interface CommitRecord {
  id: number;
  dataset: string;
  bucket: number;
  /** Redis clock at begin, ms. */
  startedAt: number;
  records: number;
  planned: PlannedSegment[];
  /** The master keys of the commit's segments (from `planned` and `bucket`). */
  segments: string[];
  /** The realtime views that must fold this commit (registered for its dataset at begin). */
  views: string[];
  /** True once every segment is durable under tmp/ and only the copies to master/ remain. */
  staged: boolean;
  copies: StagedCopy[];
}

export interface BeganCommit {
  record: CommitRecord;
  /** The registrations of `record.views`, as read at begin. */
  registrations: RealtimeRegistration[];
}

export interface CommitLogOptions {
  prefix: string;
  /** config.speedBucketMs. */
  bucketMs: number;
  /** Polling interval of waitDrained. Default 10 ms. */
  pollMs?: number;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export class CommitLog {
  readonly prefix: string;
  readonly bucketMs: number;
  readonly #redis: Redis;
  readonly #scripts: Record<SpeedScriptName, (...args: (string | number)[]) => Promise<unknown>>;
  readonly #pollMs: number;

  constructor(redis: Redis, options: CommitLogOptions) {
    if (!(Number.isInteger(options.bucketMs) && options.bucketMs > 0))
      throw new StrataError(
        'STRATA_E_CONFIG',
        `speed bucketMs must be a positive integer, got ${options.bucketMs}`,
      );
    this.#redis = redis;
    this.prefix = options.prefix;
    this.bucketMs = options.bucketMs;
    this.#pollMs = options.pollMs ?? 10;
    this.#scripts = speedScripts(redis);
  }

  async begin(
    dataset: string,
    planned: PlannedSegment[],
    options: { records?: number; leaderToken?: string } = {},
  ): Promise<BeganCommit> {
    const p = this.prefix;
    const reply = (await this.#scripts.begin(
      speedSeqKey(p, dataset),
      speedSealedKey(p, dataset),
      speedInflightKey(p, dataset),
      realtimeViewsKey(p),
      speedDatasetsKey(p),
      speedLeaderKey(p),
      dataset,
      this.bucketMs,
      JSON.stringify(planned.map(({ date, seq, sha256 }) => ({ date, seq, sha256 }))),
      options.records ?? 0,
      options.leaderToken ?? '',
    )) as [number, number | string, number, ...string[]];
    if (reply[0] === -1) {
      throw new StrataError(
        'STRATA_E_SPEED_LEADER',
        `this strata speed process lost the speed lease of prefix ${p} (now held by ${holderOf(String(reply[1]) || '(nobody)')}); it stops committing. Restart it once the other one is stopped`,
        {
          details: { prefix: p, holder: String(reply[1]) },
        },
      );
    }
    const [id, bucket, startedAt, ...regs] = reply as [number, number, number, ...string[]];
    const registrations = regs.map((r) => JSON.parse(r) as RealtimeRegistration);
    const record = withSegments({
      id,
      dataset,
      bucket,
      startedAt,
      records: options.records ?? 0,
      planned,
      views: registrations.map((r) => r.view),
      staged: false,
      copies: [],
    });
    return { record, registrations };
  }

  async markStaged(dataset: string, id: number, copies: StagedCopy[]): Promise<void> {
    const ok = await this.#scripts.stage(
      speedInflightKey(this.prefix, dataset),
      id,
      JSON.stringify(copies),
    );
    if (ok !== 1)
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `speed commit ${id} of ${dataset} is not in flight any more, so it cannot be marked staged`,
        { details: { dataset, id } },
      );
  }

  async complete(dataset: string, id: number): Promise<void> {
    await this.#redis.hdel(speedInflightKey(this.prefix, dataset), String(id));
  }

  async seal(dataset: string): Promise<number> {
    return Number(await this.#scripts.seal(speedSealedKey(this.prefix, dataset), this.bucketMs));
  }

  /** In-flight commits of a dataset, by id. */
  async listInflight(dataset: string): Promise<CommitRecord[]> {
    const all = await this.#redis.hvals(speedInflightKey(this.prefix, dataset));
    return all.map(decodeCommitRecord).sort((a, b) => a.id - b.id);
  }

  /** Every dataset that ever had a speed commit, sorted. */
  async listDatasets(): Promise<string[]> {
    return (await this.#redis.smembers(speedDatasetsKey(this.prefix))).sort();
  }

  /**
   * Resolves once no commit with bucket ≤ `sealed` is in flight. Fails with
   * STRATA_E_SPEED_IN_FLIGHT naming the commits after `timeoutMs`.
   */
  async waitDrained(
    dataset: string,
    sealed: number,
    timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, this.#pollMs)) {
      const blocking = (await this.listInflight(dataset)).filter((r) => r.bucket <= sealed);
      if (blocking.length === 0) return;
      if (Date.now() >= deadline) {
        const ids = blocking.map((r) => r.id);
        const oldest = Math.min(...blocking.map((r) => r.startedAt));
        throw new StrataError(
          'STRATA_E_SPEED_IN_FLIGHT',
          `speed commit${ids.length === 1 ? '' : 's'} ${ids.join(', ')} of dataset ${dataset} (bucket ≤ ${sealed}) ${ids.length === 1 ? 'is' : 'are'} still in flight after ${timeoutMs} ms (the oldest began at ${new Date(oldest).toISOString()}); ` +
            'a strata speed process probably stopped in the middle of them: start `strata speed` (it finishes or drops unfinished commits when it starts) and try again',
          { details: { dataset, sealed, commits: ids } },
        );
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(wait, Math.max(1, deadline - Date.now()))),
      );
    }
  }
}

/**
 * Where a multi-day commit stages its segment of `date` before copying it to master/
 * (deterministic, so recovery finds it).
 */
export function stagingKey(dataset: string, id: number, date: string): string {
  return `tmp/speed/${dataset}/${id}/${date}.seg`;
}

/** The master keys of a commit's segments. */
export function commitSegments(
  record: Pick<CommitRecord, 'dataset' | 'bucket' | 'planned'>,
): string[] {
  return record.planned.map((p) =>
    segmentKey(record.dataset, p.date, p.seq, p.sha256, record.bucket),
  );
}

export function decodeCommitRecord(raw: string): CommitRecord {
  const r = JSON.parse(raw) as Partial<CommitRecord> & {
    id: number;
    dataset: string;
    bucket: number;
  };
  // cjson (stage-1.lua) writes an empty array as {}.
  const list = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);
  return withSegments({
    id: Number(r.id),
    dataset: r.dataset,
    bucket: Number(r.bucket),
    startedAt: Number(r.startedAt ?? 0),
    records: Number(r.records ?? 0),
    planned: list<PlannedSegment>(r.planned),
    views: list<string>(r.views),
    staged: r.staged === true,
    copies: list<StagedCopy>(r.copies),
  });
}

function withSegments(r: Omit<CommitRecord, 'segments'>): CommitRecord {
  return { ...r, segments: commitSegments(r) };
}

/** `host:pid` of a lease token `host:pid:nonce`. */
export function holderOf(token: string): string {
  const i = token.lastIndexOf(':');
  return i > 0 ? token.slice(0, i) : token;
}
