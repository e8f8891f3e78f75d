/**
 * The lines of a file as it grows, like `tail -f` from its first line (or of stdin until it ends),
 * in chunks, each line with its 1-based line number. Blank lines are skipped (and counted).
 *
 *   const stop = new AbortController();
 *   for await (const chunk of followLines({ path: 'ticks.ndjson', signal: stop.signal })) {
 *     chunk.lines[0]; chunk.lineNumbers[0];
 *   }
 *
 * A line is yielded only once its newline is there: a writer may be half way through the last one.
 * At the end of the file it waits for more (a file watch, and a check every `pollMs` in case
 * the watch misses something). A file that shrinks was truncated: reading starts over at its
 * beginning; a new file under the same name (log rotation) is opened and read from its beginning.
 * Both are reported through `onNotice`. Aborting the signal ends the iteration; stdin ends when
 * it does, its last line then counting even without a newline.
 */
import { watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { StrataError } from '../../core/errors.ts';

export interface LineChunk {
  lines: string[];
  lineNumbers: number[];
  /** Input bytes the chunk came from. */
  bytes: number;
}

export interface FollowLinesOptions {
  /** A file path, or '-' for stdin. */
  path: string;
  signal: AbortSignal;
  /** What '-' reads (default process.stdin). */
  stdin?: AsyncIterable<Uint8Array>;
  /** Milliseconds between checks for growth besides the file watch. Default 250. */
  pollMs?: number;
  onNotice?: (message: string) => void;
}

const READ_BYTES = 1024 * 1024;

export async function* followLines(options: FollowLinesOptions): AsyncGenerator<LineChunk> {
  const splitter = new LineSplitter();
  if (options.path === '-') {
    const stdin = options.stdin ?? (process.stdin as AsyncIterable<Uint8Array>);
    const it = stdin[Symbol.asyncIterator]();
    // A read of stdin waits until the writer writes: the stop signal must not wait with it.
    const stopped = new Promise<'stopped'>((resolve) => {
      if (options.signal.aborted) resolve('stopped');
      options.signal.addEventListener('abort', () => resolve('stopped'), { once: true });
    });
    for (;;) {
      const next = await Promise.race([it.next(), stopped]);
      if (next === 'stopped') {
        void it.return?.();
        return;
      }
      if (next.done) break;
      const out = splitter.push(next.value as Buffer);
      if (out.lines.length) yield out;
    }
    const last = splitter.end();
    if (last.lines.length) yield last;
    return;
  }

  const file = options.path;
  let handle = await open(file);
  let ino = (await handle.stat()).ino;
  let pos = 0;
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  const waiter = new GrowthWaiter(file, options.pollMs ?? 250, options.signal);
  try {
    while (!options.signal.aborted) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        const out = splitter.push(buffer.subarray(0, bytesRead));
        if (out.lines.length) yield out;
        continue;
      }
      const now = await fs.stat(file).catch(() => undefined);
      if (now && now.ino !== ino) {
        await handle.close();
        handle = await open(file);
        ino = (await handle.stat()).ino;
        pos = 0;
        splitter.reset();
        options.onNotice?.(
          `${file} was replaced by a new file (rotated); reading the new one from its start`,
        );
        continue;
      }
      if (now && now.size < pos) {
        pos = 0;
        splitter.reset();
        options.onNotice?.(
          `${file} shrank to ${now.size} bytes (truncated); reading it again from its start`,
        );
        continue;
      }
      await waiter.wait();
    }
  } finally {
    waiter.close();
    await handle.close();
  }
}

async function open(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StrataError(
      'STRATA_E_INPUT_NOT_FOUND',
      `cannot open input ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}; check the path (or pass - for stdin)`,
      { cause: err, details: { path: file } },
    );
  }
}

/** Splits bytes into complete lines, keeping the unfinished last one for the next push. */
class LineSplitter {
  #decoder = new StringDecoder('utf8');
  #carry = '';
  #line = 0;
  #first = true;

  push(bytes: Buffer): LineChunk {
    let text = this.#carry + this.#decoder.write(bytes);
    if (this.#first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.#first = false;
    }
    const out: LineChunk = { lines: [], lineNumbers: [], bytes: bytes.length };
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.#add(out, text.slice(start, nl));
      start = nl + 1;
    }
    this.#carry = text.slice(start);
    return out;
  }

  end(): LineChunk {
    const out: LineChunk = { lines: [], lineNumbers: [], bytes: 0 };
    const rest = this.#carry + this.#decoder.end();
    this.#carry = '';
    if (rest.length > 0) this.#add(out, rest);
    return out;
  }

  reset(): void {
    this.#decoder = new StringDecoder('utf8');
    this.#carry = '';
    this.#line = 0;
    this.#first = true;
  }

  #add(out: LineChunk, raw: string): void {
    this.#line++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    out.lines.push(line);
    out.lineNumbers.push(this.#line);
  }
}

/**
 * Resolves wait() when the file may have grown: a watch event, the poll interval, or the stop
 * signal.
 */
class GrowthWaiter {
  #watcher: FSWatcher | undefined;
  #wake: (() => void) | undefined;
  #pending = false;
  readonly #pollMs: number;
  readonly #signal: AbortSignal;

  constructor(file: string, pollMs: number, signal: AbortSignal) {
    this.#pollMs = pollMs;
    this.#signal = signal;
    try {
      this.#watcher = watch(file, { persistent: false }, () => this.#fire());
      this.#watcher.on('error', () => this.close());
    } catch {
      this.#watcher = undefined; // polling alone
    }
    signal.addEventListener('abort', () => this.#fire(), { once: true });
  }

  wait(): Promise<void> {
    if (this.#pending || this.#signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#fire(), this.#pollMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #fire(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#pending = true;
  }
}
