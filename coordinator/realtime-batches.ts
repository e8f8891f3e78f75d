/**
 * The batch layer's side of realtime views: registering a job for realtime, recomputing a
 * realtime view (seal → wait → plan up to the sealed bucket), the periodic loop, and dropping
 * realtime buckets no kept version needs any more.
 *
 *   const rt = new RealtimeBatches({ redis, prefix, store, service, sealer, log });
 *   await rt.register(spec, { everyMs: 600_000 });   // + its first recomputation, at once
 *   await rt.recompute('pageviews');                   // what `strata batch` asks for
 *   rt.start(); … await rt.stop();                     // the loop: due recomputations, bucket drops
 *
 * Exactness rests on the order here: a registration is written first, so every commit numbered
 * after it is folded into the realtime state; the recomputation then seals the dataset, so every
 * commit numbered before it (and not folded) lies at or below the sealed bucket and is read by
 * the batch job. The version's spec records that bucket (`spec.realtime.boundary`); servers add
 * only realtime buckets after it.
 */
import type { Redis } from 'ioredis';
import { isStrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { listVersions, readCurrentVersion, readManifest } from '../core/views/view-layout.ts';
import {
  assertRealtimeable,
  getRealtimeView,
  lastBatchKey,
  listRealtimeViews,
  notRegistered,
  registerRealtimeView,
  setBatchCadence,
  unregisterRealtimeView,
  type RealtimeRegistration,
} from '../speed/realtime-registry.ts';
import { RealtimeState } from '../speed/realtime-state.ts';
import type { JobService } from './job-service.ts';
import type { JobStatus } from './job-status.ts';
import { parseJobSpec } from './job-spec-schema.ts';
import { isTerminalJobState } from './state/job-state.ts';

/** The speed layer's commit log, as the batch layer needs it (speed/commit-log.ts). */
export interface DatasetSealer {
  /**
   * Closes the open bucket of a dataset: every later commit gets a higher bucket. Returns the
   * sealed bucket.
   */
  seal(dataset: string): Promise<number>;
  /**
   * Resolves once no commit at or below `sealed` is in flight (fails with a clear error after a
   * timeout).
   */
  waitDrained(dataset: string, sealed: number): Promise<void>;
  bucketMs: number;
}

export interface RealtimeBatchesOptions {
  redis: Redis;
  prefix: string;
  store: ObjectStore;
  service: JobService;
  sealer: DatasetSealer;
  log?: Logger;
  /** How often the loop looks for due recomputations and droppable buckets. Default 1000 ms. */
  tickMs?: number;
  /**
   * Realtime versions whose buckets stay for a rollback (config.viewVersionsKept + the current
   * one).
   */
  versionsKept?: number;
}

export interface Registered {
  registration: RealtimeRegistration;
  job: JobStatus;
}

export class RealtimeBatches {
  readonly #o: RealtimeBatchesOptions;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  /** Per view, the current version whose buckets were last dropped for. */
  readonly #droppedFor = new Map<string, string>();

  constructor(options: RealtimeBatchesOptions) {
    this.#o = options;
  }

  async register(specInput: unknown, opts: { everyMs: number | null }): Promise<Registered> {
    const spec = parseJobSpec(specInput);
    assertRealtimeable(spec);
    const registration = await registerRealtimeView(this.#o.redis, this.#o.prefix, {
      spec,
      everyMs: opts.everyMs,
    });
    this.#o.log?.info(
      {
        view: spec.view,
        dataset: spec.input.dataset,
        codeHash: spec.codeHash,
        everyMs: opts.everyMs,
      },
      'view registered for realtime',
    );
    return { registration, job: await this.recompute(spec.view) };
  }

  list(): Promise<RealtimeRegistration[]> {
    return listRealtimeViews(this.#o.redis, this.#o.prefix);
  }

  /** Stops folding into the view and removes its realtime state; published versions stay. */
  async unregister(view: string): Promise<{ view: string; removed: boolean }> {
    const removed = await unregisterRealtimeView(this.#o.redis, this.#o.prefix, view);
    if (!removed) throw notRegistered(view);
    await new RealtimeState(this.#o.redis, this.#o.prefix, view).clear();
    await this.#o.redis.del(lastBatchKey(this.#o.prefix, view));
    return { view, removed };
  }

  setCadence(view: string, everyMs: number | null): Promise<RealtimeRegistration> {
    return setBatchCadence(this.#o.redis, this.#o.prefix, view, everyMs);
  }

  /** Submits a recomputation of a registered view over everything up to a freshly sealed bucket. */
  async recompute(view: string): Promise<JobStatus> {
    const reg = await getRealtimeView(this.#o.redis, this.#o.prefix, view);
    if (!reg) throw notRegistered(view);
    const { sealer } = this.#o;
    const boundary = await sealer.seal(reg.dataset);
    await sealer.waitDrained(reg.dataset, boundary);
    const job = await this.#o.service.submit(reg.spec, {
      realtime: { boundary, bucketMs: sealer.bucketMs },
    });
    await this.#o.redis.set(
      lastBatchKey(this.#o.prefix, view),
      JSON.stringify({ jobId: job.id, started: Date.now() }),
    );
    this.#o.log?.info({ view, jobId: job.id, boundary }, 'realtime view recomputation submitted');
    return job;
  }

  start(): void {
    const tickMs = this.#o.tickMs ?? 1000;
    const loop = (): void => {
      this.#ticking = this.tick()
        .catch((err: unknown) => this.#o.log?.warn({ err }, 'realtime batch loop tick failed'))
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(loop, tickMs);
        });
    };
    this.#timer = setTimeout(loop, tickMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  /** One pass: start due recomputations, drop buckets every kept version covers. */
  async tick(now = Date.now()): Promise<void> {
    for (const reg of await listRealtimeViews(this.#o.redis, this.#o.prefix)) {
      try {
        if (reg.everyMs !== null && (await this.#due(reg, now))) await this.recompute(reg.view);
        await this.#dropCovered(reg.view);
      } catch (err) {
        if (!isStrataError(err)) throw err;
        this.#o.log?.warn(
          { err, view: reg.view },
          'realtime view upkeep failed; trying again on the next tick',
        );
      }
    }
  }

  async #due(reg: RealtimeRegistration, now: number): Promise<boolean> {
    const raw = await this.#o.redis.get(lastBatchKey(this.#o.prefix, reg.view));
    if (raw === null) return true;
    const last = JSON.parse(raw) as { jobId: string; started: number };
    if (now - last.started < reg.everyMs!) return false;
    // Never two recomputations of one view at once: the next starts after the last one ended.
    const job = await this.#o.service.get(last.jobId).catch(() => undefined);
    return job === undefined || isTerminalJobState(job.state);
  }

  /**
   * Buckets at or below the lowest boundary of the kept realtime versions are in every batch
   * version a server may answer from (the current one, or an older one after a rollback).
   */
  async #dropCovered(view: string): Promise<void> {
    const { store } = this.#o;
    const current = await readCurrentVersion(store, view);
    if (current === undefined || this.#droppedFor.get(view) === current) return;
    const kept = (await listVersions(store, view)).slice(-(this.#o.versionsKept ?? 4));
    if (!kept.includes(current)) kept.push(current);
    const boundaries = new Map<string, number>();
    for (const version of kept) {
      const b = (await readManifest(store, view, version).catch(() => undefined))?.job.realtime
        ?.boundary;
      if (b !== undefined) boundaries.set(version, b);
    }
    if (!boundaries.has(current)) return;
    const upTo = Math.min(...boundaries.values());
    const dropped = await new RealtimeState(this.#o.redis, this.#o.prefix, view).drop(upTo);
    this.#droppedFor.set(view, current);
    if (dropped > 0)
      this.#o.log?.info(
        { view, upTo, dropped, current },
        'realtime buckets covered by every kept batch version dropped',
      );
  }
}
