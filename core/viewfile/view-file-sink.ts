/**
 * Where a view file writer puts its bytes.
 *
 *   await writeViewFile(entries, await fileSink('/tmp/part-0.sv'));
 *   const mem = memorySink();  await writeViewFile(entries, mem);  mem.bytes();
 *
 * The writer hands each chunk over for good (it never touches it again) and awaits `write`, so a
 * slow sink slows the writer down instead of piling chunks up in memory.
 */

import { open, rm } from 'node:fs/promises';

export interface ViewFileSink {
  write(chunk: Uint8Array): void | Promise<void>;
  /** Called once after the last chunk. */
  close?(): Promise<void>;
  /** Called instead of close when writing failed: drop what was written. */
  abort?(reason: unknown): Promise<void>;
}

/**
 * A new local file, synced to disk on close. Create-only by default (view files are immutable);
 * on abort the partial file is removed.
 */
export async function fileSink(
  path: string,
  options: { overwrite?: boolean } = {},
): Promise<ViewFileSink> {
  const handle = await open(path, options.overwrite ? 'w' : 'wx');
  return {
    async write(chunk) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
        done += bytesWritten;
      }
    },
    async close() {
      await handle.sync();
      await handle.close();
    },
    async abort() {
      await handle.close().catch(() => {});
      await rm(path, { force: true });
    },
  };
}

export interface MemorySink extends ViewFileSink {
  /** Everything written so far, as one array. */
  bytes(): Uint8Array;
}

export function memorySink(): MemorySink {
  const chunks: Uint8Array[] = [];
  return {
    write(chunk) {
      chunks.push(chunk);
    },
    bytes() {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let pos = 0;
      for (const c of chunks) {
        out.set(c, pos);
        pos += c.length;
      }
      return out;
    },
  };
}
