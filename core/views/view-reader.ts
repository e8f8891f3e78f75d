/**
 * Reads a published view by key, straight from the store: the current version (or a given one),
 * its manifest, and its part files, each opened on first use.
 *
 *   const view = await ViewReader.open(store, 'pageviews');            // the version _CURRENT names
 *   await view.get(['/home', '2024-06-03T14']);                         // 42, or undefined
 *   for await (const [key, n] of view.scan({ prefix: ['/home'], limit: 24 })) …
 *   await view.close();
 *
 * A key lives in the part its first element hashes to (partitionOf), so a lookup, and a scan
 * whose prefix names a first element, touch one part file. A scan without one merges every part
 * in key order. Parts are read by byte range through storeSource, so nothing is downloaded whole.
 */
import { StrataError } from '../errors.ts';
import {
  compareBytes,
  decodeKey,
  encodeKey,
  toKey,
  type Key,
  type KeyPart,
} from '../keys/key-codec.ts';
import { partitionOf } from '../keys/partition.ts';
import type { ObjectStore } from '../store/store.ts';
import { BlockCache } from '../viewfile/block-cache.ts';
import { storeSource } from '../viewfile/random-access-source.ts';
import { ViewFileReader, type ScanOptions, type ViewEntry } from '../viewfile/view-file-reader.ts';
import { valueUnpackr } from '../viewfile/view-file-format.ts';
import {
  listVersions,
  manifestKey,
  partKey,
  readCurrentVersion,
  readManifest,
  type ViewManifest,
} from './view-layout.ts';

export interface ViewReaderOptions {
  /** A committed version to read instead of the current one. */
  version?: string;
  /** Bytes of decoded blocks kept across lookups, shared by all parts. Default 8 MiB. */
  cacheBytes?: number;
}

export interface ViewScanOptions {
  /** Only keys that extend this tuple; [] or omitted scans the whole view. */
  prefix?: KeyPart | Key;
  limit?: number;
}

export class ViewReader {
  readonly #store: ObjectStore;
  readonly #parts = new Map<number, Promise<ViewFileReader | undefined>>();
  readonly #cache: BlockCache;
  #closed = false;

  private constructor(
    store: ObjectStore,
    readonly view: string,
    readonly version: string,
    readonly manifest: ViewManifest,
    cacheBytes: number,
  ) {
    this.#store = store;
    this.#cache = new BlockCache(cacheBytes);
  }

  /** STRATA_E_VIEW_NOT_FOUND when the view was never published or the version does not exist. */
  static async open(
    store: ObjectStore,
    view: string,
    options: ViewReaderOptions = {},
  ): Promise<ViewReader> {
    const version = options.version ?? (await readCurrentVersion(store, view));
    if (version === undefined) {
      throw new StrataError(
        'STRATA_E_VIEW_NOT_FOUND',
        `no view "${view}" has been published in ${store.url}; run a job that writes it (strata submit job.ts), or list the views with strata views`,
        {
          details: { view },
        },
      );
    }
    if (!(await store.stat(manifestKey(view, version)))) {
      const versions = await listVersions(store, view);
      throw new StrataError(
        'STRATA_E_VIEW_NOT_FOUND',
        `view "${view}" has no version ${version}; its versions are ${versions.length ? versions.join(', ') : '(none)'}`,
        {
          details: { view, version, versions },
        },
      );
    }
    const manifest = await readManifest(store, view, version);
    return new ViewReader(store, view, version, manifest, options.cacheBytes ?? 8 * 1024 * 1024);
  }

  get partitions(): number {
    return this.manifest.partitions;
  }

  /** The value under `key`, or undefined. Opens (once) and reads one part file. */
  async get(key: KeyPart | Key): Promise<unknown> {
    const k = toKey(key);
    encodeKey(k); // a bad key fails here with the codec's own message, before any I/O
    const part = await this.#part(partitionOf(k, this.partitions));
    return part ? part.get(k) : undefined;
  }

  /**
   * Entries in key order; a prefix with a first element reads one part, no prefix reads them all.
   */
  async *scan(options: ViewScanOptions = {}): AsyncGenerator<ViewEntry> {
    const prefix =
      options.prefix === undefined || (Array.isArray(options.prefix) && options.prefix.length === 0)
        ? []
        : toKey(options.prefix);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit >= 0))
      throw new StrataError(
        'STRATA_E_USAGE',
        `scan limit must be a non-negative integer, got ${limit}`,
      );
    if (limit === 0) return;
    const fileOptions: ScanOptions = prefix.length > 0 ? { prefix, limit } : { limit };
    if (prefix.length > 0) {
      const part = await this.#part(partitionOf(prefix, this.partitions));
      if (part) yield* part.scan(fileOptions);
      return;
    }
    const parts: ViewFileReader[] = [];
    for (let p = 0; p < this.partitions; p++) {
      const part = await this.#part(p);
      if (part) parts.push(part);
    }
    let n = 0;
    for await (const [key, value] of mergeSorted(
      parts.map((part) => part.scanEncoded(fileOptions)),
    )) {
      yield [decodeKey(key), valueUnpackr.unpack(value) as unknown];
      if (++n >= limit) return;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const parts = await Promise.allSettled(this.#parts.values());
    this.#parts.clear();
    for (const p of parts) if (p.status === 'fulfilled') await p.value?.close();
  }

  /** The reader of one partition; undefined when the version wrote no file for it (no keys). */
  #part(partition: number): Promise<ViewFileReader | undefined> {
    if (this.#closed)
      throw new StrataError('STRATA_E_USAGE', `the reader of view "${this.view}" is closed`);
    let part = this.#parts.get(partition);
    if (!part) {
      const listed = this.manifest.parts.find((p) => p.partition === partition);
      const key = listed?.key ?? partKey(this.view, this.version, partition);
      part = (async () => {
        if (!listed && !(await this.#store.stat(key))) return undefined;
        return ViewFileReader.open(await storeSource(this.#store, key), { cache: this.#cache });
      })();
      part.catch(() => this.#parts.delete(partition)); // a failed open is retried on the next call
      this.#parts.set(partition, part);
    }
    return part;
  }
}

/**
 * Merges streams that are each sorted by key bytes into one sorted stream (keys are unique across
 * parts).
 */
async function* mergeSorted(
  streams: AsyncGenerator<[Uint8Array, Uint8Array]>[],
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  // A binary min-heap of each stream's current head: O(log parts) per entry.
  type Head = { entry: [Uint8Array, Uint8Array]; stream: AsyncGenerator<[Uint8Array, Uint8Array]> };
  const heap: Head[] = [];
  const less = (a: Head, b: Head) => compareBytes(a.entry[0], b.entry[0]) < 0;
  const push = (h: Head) => {
    heap.push(h);
    for (let i = heap.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (!less(heap[i]!, heap[up]!)) break;
      [heap[i], heap[up]] = [heap[up]!, heap[i]!];
      i = up;
    }
  };
  const pop = (): Head => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  try {
    for (const stream of streams) {
      const first = await stream.next();
      if (!first.done) push({ entry: first.value, stream });
    }
    while (heap.length > 0) {
      const head = pop();
      // The reader may share key and value arrays with its block cache; they are only read here.
      yield head.entry;
      const next = await head.stream.next();
      if (!next.done) push({ entry: next.value, stream: head.stream });
    }
  } finally {
    await Promise.all(streams.map((s) => s.return(undefined)));
  }
}
