/**
 * One version of one view, loaded for serving: a reader per part file (index and bloom filter in
 * memory, data blocks read from a local copy with one pread each, hot ones kept in the shared
 * BlockCache), and a count of the requests using it, so it is closed only once the last of them is
 * done.
 *
 *   const v = await LoadedVersion.load({ store, view: 'pageviews', version, dir, cache });
 *   v.acquire();
 *   try { await v.get(['/home', 3]); } finally { v.release(); }
 *   v.retire();                                   // closes once no request holds it
 *
 * Part files are streamed whole into `dir`, and every block's checksum verified, before the
 * version is offered to any request: a swap never waits on the store, a store outage does not fail
 * reads of a loaded version, and a damaged copy fails the load (the version in service stays)
 * rather than the requests that would have read it.
 */
import { mkdir, rm, rename } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '../core/errors.ts';
import {
  compareBytes,
  decodeKey,
  encodeKey,
  type Key,
  type KeyPart,
} from '../core/keys/key-codec.ts';
import { partitionOf } from '../core/keys/partition.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { readManifest, type ViewManifest } from '../core/views/view-layout.ts';
import type { BlockCache } from '../core/viewfile/block-cache.ts';
import { ViewFileReader } from '../core/viewfile/view-file-reader.ts';
import { valueUnpackr } from '../core/viewfile/view-file-format.ts';

export interface LoadVersionOptions {
  store: ObjectStore;
  view: string;
  version: string;
  /** A folder of this load alone: removed when the version is closed. */
  dir: string;
  cache: BlockCache;
}

export interface ScanPage {
  entries: Array<[KeyPart[], unknown]>;
  /** The encoded last key, when more entries may follow. */
  last?: Uint8Array;
}

export class LoadedVersion {
  #refs = 0;
  #retired = false;
  #closed: Promise<void> | undefined;

  private constructor(
    readonly view: string,
    readonly version: string,
    readonly manifest: ViewManifest,
    private readonly parts: ReadonlyArray<ViewFileReader | undefined>,
    private readonly dir: string,
    readonly loadedAt: number,
  ) {}

  static async load(opts: LoadVersionOptions): Promise<LoadedVersion> {
    const { store, view, version, dir } = opts;
    const manifest = await readManifest(store, view, version);
    await mkdir(dir, { recursive: true });
    const parts: Array<ViewFileReader | undefined> = new Array(manifest.partitions).fill(undefined);
    // allSettled, not all: on a failure the other copies are still running, and the cleanup
    // below must come after them, or a reader opened late would never be closed.
    const settled = await Promise.allSettled(
      manifest.parts.map(async (p) => {
        if (!(p.partition >= 0 && p.partition < manifest.partitions)) {
          throw new StrataError(
            'STRATA_E_VIEWFILE_CORRUPT',
            `the manifest of ${view} ${version} lists partition ${p.partition} of ${manifest.partitions}`,
            { details: { view, version } },
          );
        }
        const file = path.join(dir, `part-${p.partition}.sv`);
        // Downloaded (a kernel copy from a file store: none of it passes through this process's
        // heap, which would keep the garbage as RSS) under a temporary name and renamed: a
        // half-written copy is never opened. A failed copy is removed with `dir`.
        await store.download(p.key, `${file}.tmp`);
        await rename(`${file}.tmp`, file);
        // Every block's checksum is verified here, once: a damaged copy fails the load (the version
        // in service stays), and lookups skip the check.
        parts[p.partition] = await ViewFileReader.open(file, {
          cache: opts.cache,
          checkBlocks: 'at-open',
        });
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled(parts.flatMap((r) => (r ? [r.close()] : [])));
      await rm(dir, { recursive: true, force: true });
      throw failed.reason;
    }
    return new LoadedVersion(view, version, manifest, parts, dir, Date.now());
  }

  get refs(): number {
    return this.#refs;
  }

  acquire(): this {
    if (this.#closed)
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `version ${this.version} of view "${this.view}" was acquired after it closed`,
      );
    this.#refs++;
    return this;
  }

  release(): void {
    this.#refs--;
    if (this.#retired && this.#refs === 0) void this.close();
  }

  /** No new request will get this version; it closes when the ones holding it are done. */
  retire(): void {
    this.#retired = true;
    if (this.#refs === 0) void this.close();
  }

  /** Resolves once the readers are closed and the local copies removed (after retire and drain). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled(this.parts.flatMap((r) => (r ? [r.close()] : [])));
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.#closed;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  async get(key: Key): Promise<unknown> {
    // Encoded once, here: a bad key fails with the codec's message before any read, and the
    // reader takes the bytes as they are instead of encoding the key again.
    const encoded = encodeKey(key);
    const part = this.parts[partitionOf(key, this.manifest.partitions)];
    return part ? part.get(encoded) : undefined;
  }

  /**
   * Up to `limit` entries in key order that extend `prefix` ([] = all) and come after `after`.
   * A prefix with a first element reads one part; otherwise every part contributes up to
   * `limit` entries and the smallest `limit` of them are the page.
   */
  async scan(prefix: Key, limit: number, after?: Uint8Array): Promise<ScanPage> {
    const opts = {
      ...(prefix.length > 0 ? { prefix } : {}),
      ...(after ? { after } : {}),
      limit: limit + 1,
    };
    const parts =
      prefix.length > 0 ? [this.parts[partitionOf(prefix, this.manifest.partitions)]] : this.parts;
    const found: Array<[Uint8Array, Uint8Array]> = [];
    for (const part of parts) {
      if (!part) continue;
      for await (const [k, v] of part.scanEncoded(opts)) found.push([k, v]);
    }
    found.sort((a, b) => compareBytes(a[0], b[0]));
    const page = found.slice(0, limit);
    const entries = page.map(
      ([k, v]) => [decodeKey(k), valueUnpackr.unpack(v)] as [KeyPart[], unknown],
    );
    return found.length > limit && page.length > 0
      ? { entries, last: page[page.length - 1]![0].slice() }
      : { entries };
  }
}
