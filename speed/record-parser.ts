/**
 * Turns request bodies into record batches: small ones on the calling thread, larger ones on a
 * pool of parse threads (parse-handlers.ts), so JSON parsing — most of the ingest CPU — runs
 * beside the group commit instead of in front of it.
 *
 *   const parser = await RecordParser.start({ threads: 1 });
 *   const batch = await parser.parse(body, 'ndjson', { timeField: 'time' });   // STRATA_E_RECORD_INVALID naming the record
 *   await parser.close();
 *
 * Either way the result and the errors are the same (record-batch.ts decides both); a thread
 * hands back the records packed with the segment codec and this thread unpacks them.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import { StrataError } from '../core/errors.ts';
import { unpackRecords } from '../core/segment/segment-format.ts';
import { parseBody, type ParseReply, type ParseRequest } from './parse-handlers.ts';
import type { BodyFormat, RecordBatch, RecordBatchOptions } from './record-batch.ts';
import { threadModule } from '../core/package-root.ts';

export interface RecordParserOptions {
  /** Parse threads; 0 parses everything on the calling thread. */
  threads: number;
  /**
   * Bodies smaller than this are parsed inline (a thread hop costs more than they do). Default 32
   * KiB.
   */
  inlineBelowBytes?: number;
}

/**
 * config.speedParseThreads: -1 means one thread fewer than the cores (the main thread keeps one), 0
 * none.
 */
export function defaultParseThreads(configured: number): number {
  return configured >= 0 ? configured : Math.max(0, os.availableParallelism() - 1);
}

export class RecordParser {
  readonly threads: number;
  readonly #pool: Piscina | undefined;
  readonly #inlineBelow: number;

  private constructor(pool: Piscina | undefined, threads: number, inlineBelow: number) {
    this.#pool = pool;
    this.threads = threads;
    this.#inlineBelow = inlineBelow;
  }

  static async start(options: RecordParserOptions): Promise<RecordParser> {
    const inlineBelow = options.inlineBelowBytes ?? 32 * 1024;
    if (options.threads <= 0) return new RecordParser(undefined, 0, inlineBelow);
    const pool = new Piscina({
      filename: threadModule('speed/parse-thread.mjs', 'parse-handlers'),
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
    try {
      // Fail at start-up, not at the first request, if the thread entry cannot load.
      await Promise.all(
        Array.from({ length: options.threads }, () => pool.run(undefined, { name: 'ping' })),
      );
    } catch (err) {
      await pool.destroy().catch(() => {});
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `the speed layer's parse threads failed to start: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new RecordParser(pool, options.threads, inlineBelow);
  }

  async parse(
    body: Uint8Array,
    format: BodyFormat,
    options: RecordBatchOptions,
  ): Promise<RecordBatch> {
    if (!this.#pool || body.length < this.#inlineBelow) return parseBody(body, format, options);
    const request: ParseRequest = {
      body,
      format,
      timeField: options.timeField,
      ...(options.defaultTime !== undefined ? { defaultTime: options.defaultTime } : {}),
    };
    const reply = (await this.#pool.run(request, { name: 'parse' })) as ParseReply;
    if (!reply.ok) throw StrataError.fromJSON(reply.error);
    return {
      records: unpackRecords(reply.value.packed) as Record<string, unknown>[],
      times: reply.value.times,
      timeField: options.timeField,
    };
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
  }
}
