/**
 * The local-directory store (`file:///abs/dir`), the embedded default.
 *
 *   const store = await FileStore.open('file:///var/lib/strata/store');
 *   await store.put('master/pv/dt=2026-01-01/1-ab.seg', bytes);   // create-only, durable on return
 *
 * A put streams into `<root>/.partial/<uuid>`, fsyncs it, and then publishes it in one step:
 * `link` for a create-only write (the kernel refuses an existing name, so two racing writers
 * cannot both win) or `rename` for an overwrite. Readers therefore see a whole object or none.
 * After publishing, the parent directories are fsynced so an acknowledged put survives a crash.
 * copy is a hard link: a commit costs no bytes and, as objects are never changed in place, the
 * two names can never diverge.
 */
import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StrataError } from '../errors.ts';
import type { ByteRange, ObjectInfo, ObjectStore, PutBody, PutOptions } from './store.ts';
import { watchBody } from './body-watch.ts';
import {
  PARTIAL_DIR,
  assertDeletable,
  assertKey,
  assertOverwritable,
  assertPrefix,
  assertRange,
  clampRange,
} from './store-rules.ts';

const READ_CHUNK_BYTES = 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * A concurrent delete may prune a directory between our mkdir and link; this many tries covers it.
 */
const PUBLISH_ATTEMPTS = 4;

export class FileStore implements ObjectStore {
  readonly url: string;
  private readonly partialDir: string;

  private constructor(readonly root: string) {
    this.url = pathToFileURL(root).href;
    this.partialDir = path.join(root, PARTIAL_DIR);
  }

  /** Opens (creating if needed) the directory named by a `file:///abs/dir` URL. */
  static async open(url: string): Promise<FileStore> {
    const store = new FileStore(fileUrlToRoot(url));
    try {
      await fs.mkdir(store.partialDir, { recursive: true });
    } catch (err) {
      throw new StrataError(
        'STRATA_E_STORE_UNAVAILABLE',
        `cannot create the store directory ${store.root}: ${(err as Error).message}; check that the path is writable`,
        {
          cause: err,
          details: { url: store.url },
        },
      );
    }
    return store;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    assertKey(key);
    const overwrite = options.overwrite === true;
    if (overwrite) assertOverwritable(key);
    const final = this.pathOf(key);
    // Fail before consuming a possibly large body; the link below is what actually decides.
    if (!overwrite && (await isFile(final))) throw existsError(key);
    const temp = path.join(this.partialDir, randomUUID());
    try {
      await writeDurably(temp, body, key);
      await this.publish(temp, final, key, overwrite ? 'rename' : 'link');
    } finally {
      await fs.rm(temp, { force: true });
    }
    return this.infoOf(key, final);
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertRange(range, key);
    const { handle, start, end } = await this.openRange(key, range);
    try {
      // Not Buffer.allocUnsafe: a small one would share Node's pool, and callers may transfer the
      // result's ArrayBuffer.
      const out = Buffer.allocUnsafeSlow(end - start);
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === out.length ? out : out.subarray(0, filled);
    } catch (err) {
      throw ioError('read', key, err);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    assertRange(range, key);
    const { handle, start, end } = await this.openRange(key, range);
    if (start === end) {
      await handle.close();
      return (async function* () {})();
    }
    // Closes the handle when the stream ends or the consumer stops early.
    const stream = handle.createReadStream({
      start,
      end: end - 1,
      highWaterMark: READ_CHUNK_BYTES,
    });
    return mapReadErrors(stream, key);
  }

  async download(key: string, file: string): Promise<ObjectInfo> {
    assertKey(key);
    // copyFile, not a stream through this process: the kernel copies (copy_file_range), and a
    // view server loading hundreds of MiB keeps none of it in its own heap.
    try {
      await fs.copyFile(this.pathOf(key), file);
    } catch (err) {
      await fs.rm(file, { force: true });
      const code = errnoOf(err);
      if ((code === 'ENOENT' || code === 'ENOTDIR') && !(await statOrUndefined(this.pathOf(key))))
        throw notFoundError(key);
      throw ioError(`download to ${file}`, key, err);
    }
    return this.infoOf(key, this.pathOf(key));
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertKey(key);
    const st = await statOrUndefined(this.pathOf(key));
    return st?.isFile() ? { key, size: st.size, modified: Math.floor(st.mtimeMs) } : undefined;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertPrefix(prefix);
    const cut = prefix.lastIndexOf('/') + 1;
    yield* this.walk(prefix.slice(0, cut), prefix.slice(cut));
  }

  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    assertKey(fromKey, 'source key');
    assertKey(toKey, 'target key');
    const source = this.pathOf(fromKey);
    if (!(await isFile(source))) throw notFoundError(fromKey);
    await this.publish(source, this.pathOf(toKey), toKey, 'link');
    return this.infoOf(toKey, this.pathOf(toKey));
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    assertDeletable(key);
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'EPERM') return; // no object there
      throw ioError('delete', key, err);
    }
    await this.pruneEmptyDirs(path.dirname(file), key);
  }

  async close(): Promise<void> {}

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  private async infoOf(key: string, file: string): Promise<ObjectInfo> {
    const st = await fs.stat(file);
    return { key, size: st.size, modified: Math.floor(st.mtimeMs) };
  }

  /**
   * Makes `from` visible as `final` (link: create-only; rename: replace), then fsyncs the
   * directories it touched.
   */
  private async publish(
    from: string,
    final: string,
    key: string,
    how: 'link' | 'rename',
  ): Promise<void> {
    const dir = path.dirname(final);
    for (let attempt = 1; ; attempt++) {
      let created: string | undefined;
      try {
        created = await fs.mkdir(dir, { recursive: true });
        await (how === 'link' ? fs.link(from, final) : fs.rename(from, final));
        await syncDirs(dir, created);
        return;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT' && attempt < PUBLISH_ATTEMPTS && (await isFile(from))) continue; // dir pruned under us
        if (code === 'EEXIST' && how === 'link' && (await isFile(final))) throw existsError(key);
        if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') throw conflictError(key);
        throw ioError('write', key, err);
      }
    }
  }

  private async openRange(
    key: string,
    range: ByteRange | undefined,
  ): Promise<{ handle: fs.FileHandle; start: number; end: number }> {
    assertKey(key);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(key), 'r');
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFoundError(key);
      throw ioError('open', key, err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw notFoundError(key);
      return { handle, ...clampRange(range, st.size) };
    } catch (err) {
      await handle.close();
      throw err instanceof StrataError ? err : ioError('stat', key, err);
    }
  }

  /**
   * Depth-first in key order: a directory `d` sorts as `d/`, so `a-b` (0x2d) comes before `a/…`
   * (0x2f), as on S3.
   */
  private async *walk(dirKey: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(path.join(this.root, dirKey), { withFileTypes: true });
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw ioError('list', dirKey, err);
    }
    const items = entries
      .filter(
        (e) =>
          e.name.startsWith(namePrefix) &&
          (e.isFile() || e.isDirectory()) &&
          !(dirKey === '' && e.name === PARTIAL_DIR),
      )
      .map((e) => ({
        name: e.name,
        isDir: e.isDirectory(),
        order: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name),
      }))
      .sort((a, b) => Buffer.compare(a.order, b.order));
    for (const item of items) {
      const key = dirKey + item.name;
      if (item.isDir) {
        yield* this.walk(`${key}/`, '');
        continue;
      }
      const st = await statOrUndefined(path.join(this.root, key));
      if (st?.isFile()) yield { key, size: st.size, modified: Math.floor(st.mtimeMs) }; // gone if deleted meanwhile
    }
  }

  /** Removes the folders a delete emptied, up to tmp/ or views/<view>/ (never those themselves). */
  private async pruneEmptyDirs(dir: string, key: string): Promise<void> {
    const stopAt = key.startsWith('tmp/')
      ? path.join(this.root, 'tmp')
      : path.join(this.root, ...key.split('/').slice(0, 2));
    for (let d = dir; d.startsWith(`${stopAt}${path.sep}`); d = path.dirname(d)) {
      try {
        await fs.rmdir(d);
      } catch {
        return; // not empty (or already gone): nothing above it is empty either
      }
    }
  }
}

/** `file:///abs/dir` → `/abs/dir`; STRATA_E_STORE_URL for anything else. */
export function fileUrlToRoot(url: string): string {
  const bad = (why: string) =>
    new StrataError(
      'STRATA_E_STORE_URL',
      `store URL ${JSON.stringify(url)} is invalid: ${why}; use file:///absolute/dir`,
      { details: { url } },
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('it is not a URL');
  }
  if (parsed.protocol !== 'file:') throw bad('it is not a file: URL');
  if (parsed.host !== '')
    throw bad(`it names a host (${parsed.host}); a relative path needs an absolute one`);
  if (parsed.search !== '' || parsed.hash !== '')
    throw bad('file: store URLs take no ?query or #fragment');
  return path.resolve(fileURLToPath(parsed));
}

async function writeDurably(temp: string, body: PutBody, key: string): Promise<void> {
  const watched = watchBody(body);
  const source = watched.source;
  const handle = await openTemp(temp).catch((err) => Promise.reject(ioError('write', key, err)));
  try {
    if (source instanceof Uint8Array) await writeAll(handle, source);
    else await writeCoalesced(handle, source);
    await handle.sync();
  } catch (err) {
    throw watched.failure ? watched.failure.error : ioError('write', key, err);
  } finally {
    await handle.close();
  }
}

async function openTemp(temp: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(temp, 'wx');
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    await fs.mkdir(path.dirname(temp), { recursive: true }); // .partial was removed behind our back
    return fs.open(temp, 'wx');
  }
}

/**
 * Small chunks (a record at a time) are gathered into WRITE_BATCH_BYTES writes; large ones go
 * straight through.
 */
async function writeCoalesced(
  handle: fs.FileHandle,
  source: AsyncIterable<Uint8Array>,
): Promise<void> {
  let batch: Buffer | undefined;
  let fill = 0;
  for await (const chunk of source) {
    if (fill + chunk.length > WRITE_BATCH_BYTES && fill > 0) {
      await writeAll(handle, batch!.subarray(0, fill));
      fill = 0;
    }
    if (chunk.length >= WRITE_BATCH_BYTES) {
      await writeAll(handle, chunk);
      continue;
    }
    batch ??= Buffer.allocUnsafeSlow(WRITE_BATCH_BYTES);
    batch.set(chunk, fill);
    fill += chunk.length;
  }
  if (fill > 0) await writeAll(handle, batch!.subarray(0, fill));
}

async function writeAll(handle: fs.FileHandle, chunk: Uint8Array): Promise<void> {
  for (let done = 0; done < chunk.length;)
    done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
}

async function* mapReadErrors(
  stream: AsyncIterable<Uint8Array>,
  key: string,
): AsyncGenerator<Uint8Array> {
  try {
    yield* stream;
  } catch (err) {
    throw ioError('read', key, err);
  }
}

/**
 * fsyncs `dir` and, when mkdir created some of its ancestors, each of those and the parent of the
 * first.
 */
async function syncDirs(dir: string, firstCreated: string | undefined): Promise<void> {
  const dirs = [dir];
  if (firstCreated !== undefined) {
    for (let d = dir; d !== firstCreated && d !== path.dirname(d);)
      dirs.push((d = path.dirname(d)));
    dirs.push(path.dirname(firstCreated));
  }
  for (const d of dirs) {
    const handle = await fs.open(d, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

async function statOrUndefined(file: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await statOrUndefined(file))?.isFile() ?? false;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function existsError(key: string): StrataError {
  return new StrataError(
    'STRATA_E_STORE_EXISTS',
    `${key} already exists and is create-only; write under a new key (or pass { overwrite: true } for a pointer)`,
    {
      details: { key },
    },
  );
}

function notFoundError(key: string): StrataError {
  return new StrataError('STRATA_E_STORE_NOT_FOUND', `no object at ${key}`, { details: { key } });
}

function conflictError(key: string): StrataError {
  return new StrataError(
    'STRATA_E_STORE_KEY',
    `${key} clashes with another key in the local store: one key cannot be both an object and a folder of objects (a/b and a/b/c); rename one of them`,
    {
      details: { key },
    },
  );
}

function ioError(op: string, key: string, err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  return new StrataError(
    'STRATA_E_STORE_IO',
    `${op} of ${key} in the local store failed: ${(err as Error)?.message ?? String(err)}`,
    { cause: err, details: { key } },
  );
}
