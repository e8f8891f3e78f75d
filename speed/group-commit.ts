/**
 * Group commit for one dataset: requests queue their validated records; one loop takes everything
 * queued, writes it as one segment per UTC day, folds it, and acknowledges every request of the
 * group at once. Many small requests cost one durable write, not one each.
 *
 *   const committer = new GroupCommitter({ dataset: 'ticks', store, commitLog, lingerMs: 2, maxRecords: 50_000 });
 *   const ack = await committer.submit(batch);   // { records, commitId, bucket, segments } once durable
 *
 * One commit, in order (speed-design.md):
 * 1. take the queue (≤ maxRecords, whole requests only: a request is never split across commits;
 *    an idle loop first waits lingerMs for more) and encode one segment per UTC day in memory;
 * 2. begin (Redis: commit id, bucket, realtime views, in-flight record with the planned segments);
 * 3. one day: a create-only put straight to master/ (atomic). Several days: put each under tmp/,
 *    mark the commit staged, then copy each to master/ (recovery rolls the copies forward);
 * 4. onCommitted (the realtime fold), 5. complete, 6. acknowledge every request of the group.
 * Any failure fails every request of the group (STRATA_E_SPEED_UNAVAILABLE, 503) and
 * acknowledges nothing; a commit that had begun stays in flight and is handed to `onUnfinished`
 * (the server retries recovery on it), so the batch layer's wait for it ends.
 */
import { nextSequence, utcDate } from '../core/dataset/dataset-layout.ts';
import { StrataError, toStrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { SegmentEncoder } from '../core/segment/segment-encoder.ts';
import type { ObjectStore } from '../core/store/store.ts';
import type { CommitHook } from './commit-hook.ts';
import { stagingKey, type CommitLog, type CommitRecord, type StagedCopy } from './commit-log.ts';
import type { RecordBatch } from './record-batch.ts';
import { deleteStaged } from './speed-recovery.ts';
import type { SpeedMetrics } from './speed-metrics.ts';

export interface CommitAck {
  /** Records of this request. */
  records: number;
  commitId: number;
  bucket: number;
  /** Master keys of the group's segments (this request's records are in them). */
  segments: string[];
}

export interface GroupCommitOptions {
  dataset: string;
  store: ObjectStore;
  commitLog: CommitLog;
  /** The speed lease token: a leader that lost its lease cannot begin a commit. */
  leaderToken?: string;
  /** config.speedLingerMs */
  lingerMs: number;
  /** config.speedMaxCommitRecords */
  maxRecords: number;
  blockTargetBytes?: number;
  onCommitted?: CommitHook | undefined;
  /** A commit that failed after begin: still in flight until someone settles it (recoverCommit). */
  onUnfinished?: (record: CommitRecord) => void;
  metrics?: SpeedMetrics;
  log?: Logger;
}

interface Pending {
  batch: RecordBatch;
  resolve: (ack: CommitAck) => void;
  reject: (err: StrataError) => void;
}

interface DaySegment {
  date: string;
  bytes: Uint8Array;
  sha256: string;
}

type Stage = 'encoding' | 'writing' | 'stored';

export class GroupCommitter {
  readonly dataset: string;
  readonly #o: GroupCommitOptions;
  #queue: Pending[] = [];
  #queued = 0;
  #loop: Promise<void> | undefined;
  #closed: StrataError | undefined;
  /** Commits and exclusive() calls of this dataset, one at a time. */
  #lane: Promise<unknown> = Promise.resolve();

  constructor(options: GroupCommitOptions) {
    this.dataset = options.dataset;
    this.#o = options;
  }

  /** Records waiting for a commit. */
  get queuedRecords(): number {
    return this.#queued;
  }

  submit(batch: RecordBatch): Promise<CommitAck> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<CommitAck>((resolve, reject) => {
      this.#queue.push({ batch, resolve, reject });
      this.#setQueued(this.#queued + batch.records.length);
      this.#loop ??= this.#run().finally(() => {
        this.#loop = undefined;
      });
    });
  }

  /** Accepts nothing more; resolves when everything queued is committed (or failed). */
  async close(reason?: StrataError): Promise<void> {
    this.#closed ??=
      reason ??
      new StrataError(
        'STRATA_E_SPEED_UNAVAILABLE',
        `the speed layer is stopping; send the records of ${this.dataset} again to the next one`,
      );
    while (this.#loop) await this.#loop;
  }

  /**
   * Runs `fn` when no commit of this dataset is running, and holds the next one back until it is
   * done: the realtime fold is a read-merge-write, so two folds of one dataset must not overlap
   * (the server retries a failed commit's fold through here).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lane.then(fn);
    this.#lane = run.catch(() => {});
    return run;
  }

  /** Fails everything queued and not yet taken (the lease was lost). */
  failQueued(reason: StrataError): void {
    this.#closed ??= reason;
    const dropped = this.#queue;
    this.#queue = [];
    this.#setQueued(0);
    for (const p of dropped) p.reject(reason);
  }

  async #run(): Promise<void> {
    let idle = true;
    while (this.#queue.length > 0) {
      // An idle loop waits a moment for company; a busy one has been collecting during its last
      // commit.
      if (idle && this.#o.lingerMs > 0 && this.#queued < this.#o.maxRecords)
        await new Promise((resolve) => setTimeout(resolve, this.#o.lingerMs));
      idle = false;
      await this.exclusive(async () => {
        const group = this.#take();
        if (group.length > 0) await this.#commit(group);
      });
    }
  }

  #take(): Pending[] {
    const group: Pending[] = [];
    let records = 0;
    const timeField = this.#queue[0]?.batch.timeField;
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      const n = next.batch.records.length;
      // One time field per segment footer; and never split a request.
      if (
        group.length > 0 &&
        (next.batch.timeField !== timeField || records + n > this.#o.maxRecords)
      )
        break;
      group.push(this.#queue.shift()!);
      records += n;
    }
    this.#setQueued(this.#queued - records);
    return group;
  }

  async #commit(group: Pending[]): Promise<void> {
    const { store, commitLog } = this.#o;
    const dataset = this.dataset;
    const started = performance.now();
    const total = group.reduce((n, p) => n + p.batch.records.length, 0);
    let record: CommitRecord | undefined;
    let stage: Stage = 'encoding';
    try {
      const days = this.#encode(group);
      const planned = days.map((d) => ({ date: d.date, seq: nextSequence(), sha256: d.sha256 }));
      ({ record } = await commitLog.begin(dataset, planned, {
        records: total,
        ...(this.#o.leaderToken ? { leaderToken: this.#o.leaderToken } : {}),
      }));
      stage = 'writing';
      if (days.length === 1) {
        await store.put(record.segments[0]!, days[0]!.bytes);
      } else {
        const copies: StagedCopy[] = record.segments.map((to, i) => ({
          from: stagingKey(dataset, record!.id, days[i]!.date),
          to,
        }));
        await settleAll(days.map((d, i) => store.put(copies[i]!.from, d.bytes)));
        await commitLog.markStaged(dataset, record.id, copies);
        await settleAll(copies.map((c) => store.copy(c.from, c.to)));
      }
      stage = 'stored';
      if (this.#o.onCommitted) {
        const records =
          group.length === 1 ? group[0]!.batch.records : group.flatMap((p) => p.batch.records);
        await this.#o.onCommitted({
          dataset,
          id: record.id,
          bucket: record.bucket,
          segments: record.segments,
          views: record.views,
          records,
        });
      }
      await commitLog.complete(dataset, record.id);
    } catch (err) {
      const failure = groupFailure(err, dataset, total, stage, record);
      this.#o.log?.error(
        { err, dataset, records: total, requests: group.length, commitId: record?.id, stage },
        'group commit failed; nothing of it was acknowledged',
      );
      this.#o.metrics?.commits.inc({ dataset, outcome: 'failed' });
      for (const p of group) p.reject(failure);
      if (record) this.#o.onUnfinished?.(record);
      return;
    }
    const done = record;
    if (done.planned.length > 1) void deleteStaged(done, store, this.#o.log);
    for (const p of group)
      p.resolve({
        records: p.batch.records.length,
        commitId: done.id,
        bucket: done.bucket,
        segments: done.segments,
      });
    const m = this.#o.metrics;
    if (m) {
      m.records.inc({ dataset }, total);
      m.commits.inc({ dataset, outcome: 'ok' });
      m.commitLatency.observe({ dataset }, (performance.now() - started) / 1000);
      m.commitRecords.observe({ dataset }, total);
    }
    this.#o.log?.debug(
      {
        dataset,
        commitId: done.id,
        bucket: done.bucket,
        records: total,
        requests: group.length,
        ms: performance.now() - started,
      },
      'group committed',
    );
  }

  /**
   * One segment per UTC day, in memory: a group is bounded by maxRecords (and each request by the
   * body limit).
   */
  #encode(group: Pending[]): DaySegment[] {
    const days = new Map<string, { encoder: SegmentEncoder; chunks: Uint8Array[] }>();
    const timeField = group[0]!.batch.timeField;
    for (const { batch } of group) {
      const { records, times } = batch;
      for (let i = 0; i < records.length; i++) {
        const time = times[i]!;
        const date = utcDate(time);
        let day = days.get(date);
        if (!day) {
          day = {
            encoder: new SegmentEncoder({
              dataset: this.dataset,
              timeField,
              ...(this.#o.blockTargetBytes ? { blockTargetBytes: this.#o.blockTargetBytes } : {}),
            }),
            chunks: [],
          };
          days.set(date, day);
        }
        const chunks = day.encoder.add(records[i]!, time);
        if (chunks) day.chunks.push(...chunks);
      }
    }
    return [...days.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([date, day]) => {
        const { chunks, summary } = day.encoder.finish();
        day.chunks.push(...chunks);
        return { date, bytes: Buffer.concat(day.chunks), sha256: summary.sha256 };
      });
  }

  #setQueued(n: number): void {
    this.#queued = n;
    this.#o.metrics?.queueRecords.set({ dataset: this.dataset }, n);
  }
}

/**
 * Like Promise.all, but waits for every operation to settle before rejecting: no write is left
 * running behind a failure.
 */
async function settleAll(ops: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ops);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function groupFailure(
  err: unknown,
  dataset: string,
  records: number,
  stage: Stage,
  record: CommitRecord | undefined,
): StrataError {
  const e = toStrataError(err, 'STRATA_E_INTERNAL');
  const what =
    stage === 'stored'
      ? `its segments are durable in the master dataset (${record!.segments.join(', ')}), so these records ARE stored and strata speed will fold them when it retries the commit: do not send them again`
      : stage === 'writing'
        ? 'the store write failed, so the records are most likely not stored and nothing was acknowledged: send them again'
        : 'nothing was stored or acknowledged: send the records again';
  return new StrataError(
    'STRATA_E_SPEED_UNAVAILABLE',
    `the group commit of ${records} records to dataset ${dataset} failed (${e.message} [${e.code}]); ${what}`,
    {
      cause: e,
      details: {
        dataset,
        stored: stage === 'stored' ? 'yes' : stage === 'writing' ? 'unknown' : 'no',
        reason: e.code,
        ...(record ? { commitId: record.id, bucket: record.bucket } : {}),
      },
    },
  );
}
