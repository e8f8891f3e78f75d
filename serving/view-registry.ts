/**
 * The versions a view server answers from: for each view, the current LoadedVersion, swapped
 * atomically when _CURRENT moves (a new version, or a rollback to an old one).
 *
 *   const registry = new ViewRegistry({ store, cacheDir, cache, log, metrics });
 *   await registry.syncAll();                      // load every published view (before listening)
 *   const v = registry.acquire('pageviews');       // undefined: no such view loaded
 *   try { await v.get(['/home']); } finally { v.release(); }
 *   registry.refresh('pageviews');                 // on an announcement, or a periodic check
 *
 * A version is loaded completely (manifest, every part file copied locally and opened) before
 * one assignment makes it current. A request holds the version it acquired until it ends, so it
 * never sees two versions; the old version is closed when its last request releases it. _CURRENT
 * is the truth: an announcement only says "look now", so a stale or replayed one is harmless.
 * Refreshes of one view run one at a time, and a refresh asked for while one runs runs again after.
 */
import path from 'node:path';
import type { Logger } from '../core/log.ts';
import type { ObjectStore } from '../core/store/store.ts';
import {
  listViews,
  listVersions,
  readCurrentVersion,
  VIEW_NAME_PATTERN,
} from '../core/views/view-layout.ts';
import type { BlockCache } from '../core/viewfile/block-cache.ts';
import { LoadedVersion } from './loaded-version.ts';
import type { RealtimeMerge, RealtimeSource } from './realtime-merge.ts';
import type { ServeMetrics } from './serve-metrics.ts';

export interface ViewRegistryOptions {
  store: ObjectStore;
  /** A folder of this registry alone (copies of part files, one subfolder per load). */
  cacheDir: string;
  cache: BlockCache;
  log?: Logger;
  metrics?: ServeMetrics;
  /** Reads realtime buckets for versions of realtime views; absent when the server has no Redis. */
  realtime?: RealtimeSource;
}

export interface ViewSummary {
  view: string;
  version: string;
  /** The version served before this one by this server, if any (a rollback target). */
  previous?: string;
  /** Every committed version in the store, oldest first (as of the last load). */
  versions: string[];
  partitions: number;
  records: number;
  loadedAt: string;
  /** A realtime view: answers add the speed layer's buckets after this one to the batch version. */
  realtime?: { boundary: number; bucketMs: number };
}

interface ViewSlot {
  current?: LoadedVersion;
  previous?: string;
  versions: string[];
  running?: Promise<void>;
  again: boolean;
}

export class ViewRegistry {
  readonly #slots = new Map<string, ViewSlot>();
  #loads = 0;
  #stopped = false;
  /** The realtime half of each loaded version of a realtime view. */
  readonly #merges = new WeakMap<LoadedVersion, RealtimeMerge>();
  readonly #swapListeners = new Set<(view: string, version: string) => void>();

  constructor(private readonly opts: ViewRegistryOptions) {}

  /** The current version of a view with one more holder, or undefined. Release it when done. */
  acquire(view: string): LoadedVersion | undefined {
    return this.#slots.get(view)?.current?.acquire();
  }

  /**
   * How `v` answers: 'batch' (a plain view), its RealtimeMerge, or 'unavailable' for a realtime
   * version on a server without Redis (it must not answer without the realtime part).
   */
  realtimeOf(v: LoadedVersion): RealtimeMerge | 'batch' | 'unavailable' {
    if (!v.manifest.job.realtime) return 'batch';
    return this.#merges.get(v) ?? 'unavailable';
  }

  /** Calls `listener(view, version)` after every swap; returns the unsubscribe function. */
  onSwap(listener: (view: string, version: string) => void): () => void {
    this.#swapListeners.add(listener);
    return () => this.#swapListeners.delete(listener);
  }

  list(): ViewSummary[] {
    const out: ViewSummary[] = [];
    for (const [view, slot] of [...this.#slots].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const v = slot.current;
      if (!v) continue;
      out.push({
        view,
        version: v.version,
        ...(slot.previous ? { previous: slot.previous } : {}),
        versions: slot.versions,
        partitions: v.manifest.partitions,
        records: v.manifest.records,
        loadedAt: new Date(v.loadedAt).toISOString(),
        ...(v.manifest.job.realtime ? { realtime: v.manifest.job.realtime } : {}),
      });
    }
    return out;
  }

  /**
   * Lists the store's views and refreshes each; resolves when all are done (failures are logged).
   */
  async syncAll(): Promise<void> {
    const views = await listViews(this.opts.store);
    await Promise.all(views.map((v) => this.refresh(v)));
  }

  /** Loads and switches to what views/<view>/_CURRENT names, if that is not already current. */
  refresh(view: string): Promise<void> {
    if (!VIEW_NAME_PATTERN.test(view) || this.#stopped) return Promise.resolve();
    let slot = this.#slots.get(view);
    if (!slot) this.#slots.set(view, (slot = { versions: [], again: false }));
    const s = slot;
    if (s.running) {
      s.again = true;
      return s.running;
    }
    s.running = (async () => {
      do {
        s.again = false;
        try {
          await this.#sync(view, s);
        } catch (err) {
          this.opts.metrics?.swapFailures.inc({ view });
          this.opts.log?.error(
            { err, view },
            'loading a view version failed; the version in service stays, and the next check retries',
          );
        }
      } while (s.again && !this.#stopped);
    })().finally(() => (s.running = undefined));
    return s.running;
  }

  async #sync(view: string, slot: ViewSlot): Promise<void> {
    const { store } = this.opts;
    const version = await readCurrentVersion(store, view);
    if (version === undefined || version === slot.current?.version) return;
    const started = performance.now();
    const dir = path.join(this.opts.cacheDir, view, `${version}-${++this.#loads}`);
    const loaded = await LoadedVersion.load({ store, view, version, dir, cache: this.opts.cache });
    try {
      const merge = await this.opts.realtime?.forVersion(loaded);
      if (merge) this.#merges.set(loaded, merge);
    } catch (err) {
      await loaded.close();
      throw err;
    }
    if (this.#stopped) {
      await loaded.close();
      return;
    }
    const versions = await listVersions(store, view).catch(() => slot.versions);
    const old = slot.current;
    // The swap: from here on every new request gets `loaded`; requests holding `old` finish on it.
    slot.current = loaded;
    slot.versions = versions;
    if (old) {
      slot.previous = old.version;
      old.retire();
      this.opts.metrics?.loaded.remove({ view, version: old.version });
    }
    const seconds = (performance.now() - started) / 1000;
    this.opts.metrics?.loaded.set({ view, version }, 1);
    this.opts.metrics?.swaps.observe({ view }, seconds);
    this.opts.log?.info(
      { view, version, previous: old?.version, ms: Math.round(seconds * 1000) },
      old ? 'view version swapped' : 'view version loaded',
    );
    for (const listener of this.#swapListeners) listener(view, version);
  }

  /** Waits for loads in progress, then closes every version once its requests are done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled(
      [...this.#slots.values()].flatMap((s) => (s.running ? [s.running] : [])),
    );
    const closing: Promise<void>[] = [];
    for (const slot of this.#slots.values()) {
      const v = slot.current;
      slot.current = undefined;
      v?.retire();
      if (v && v.refs === 0) closing.push(v.close());
    }
    await Promise.all(closing);
  }
}
