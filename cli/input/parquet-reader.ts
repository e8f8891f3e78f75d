/**
 * Parquet files, read one row group at a time with hyparquet (and hyparquet-compressors for
 * ZSTD, LZ4, Brotli, gzip), so memory holds one row group's rows, never the whole file.
 *
 *   for await (const { record, position } of readParquet('/data/ticks.parquet')) …
 *
 * Values are made JSON-like: INT64 becomes a number when it fits exactly (else its decimal
 * string), timestamps become ISO-8601 strings (UTC, ms), DATE columns `YYYY-MM-DD`. Parquet
 * needs random access, so it is read from a file, not from stdin. A file that is not Parquet is
 * STRATA_E_INPUT_FORMAT.
 */
import {
  parquetMetadataAsync,
  parquetReadObjects,
  type AsyncBuffer,
  type FileMetaData,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import fs from 'node:fs/promises';
import { StrataError } from '../../core/errors.ts';
import type { InputRecord } from './input-record.ts';

export interface ParquetReaderOptions {
  /** The name used in messages (default: the path). */
  file?: string;
  /** Called with the bytes of each range read, for progress. */
  onBytes?: (n: number) => void;
}

export async function* readParquet(
  path: string,
  options: ParquetReaderOptions = {},
): AsyncGenerator<InputRecord> {
  const file = options.file ?? path;
  const handle = await fs.open(path, 'r');
  try {
    const { size } = await handle.stat();
    const buffer: AsyncBuffer = {
      byteLength: size,
      async slice(start, end = size) {
        const out = Buffer.allocUnsafeSlow(end - start);
        let filled = 0;
        while (filled < out.length) {
          const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        options.onBytes?.(filled);
        return out.buffer.slice(0, filled);
      },
    };
    const metadata = await readMetadata(buffer, file);
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({
          file: buffer,
          metadata,
          rowStart,
          rowEnd,
          compressors,
          parsers: PARSERS,
        });
      } catch (err) {
        throw new StrataError(
          'STRATA_E_INPUT_FORMAT',
          `${file}: cannot read Parquet rows ${rowStart + 1}–${rowEnd}: ${(err as Error).message}`,
          { cause: err, details: { file } },
        );
      }
      for (let i = 0; i < rows.length; i++)
        yield {
          record: plain(rows[i]) as Record<string, unknown>,
          position: { row: rowStart + i + 1 },
        };
      rowStart = rowEnd;
    }
  } finally {
    await handle.close();
  }
}

async function readMetadata(buffer: AsyncBuffer, file: string): Promise<FileMetaData> {
  const notParquet = (why: string, cause?: unknown) =>
    new StrataError(
      'STRATA_E_INPUT_FORMAT',
      `${file} is not a Parquet file (${why}); pass --format ndjson or --format csv if it is one of those`,
      { cause, details: { file } },
    );
  if (buffer.byteLength < 12) throw notParquet(`only ${buffer.byteLength} bytes`);
  const head = new Uint8Array(await buffer.slice(0, 4));
  const tail = new Uint8Array(await buffer.slice(buffer.byteLength - 4));
  const magic = (b: Uint8Array) => String.fromCharCode(...b) === 'PAR1';
  if (!magic(head) || !magic(tail)) throw notParquet('no PAR1 magic bytes');
  try {
    return await parquetMetadataAsync(buffer);
  } catch (err) {
    throw notParquet(`its metadata cannot be read: ${(err as Error).message}`, err);
  }
}

const PARSERS = {
  timestampFromMilliseconds: (ms: bigint) => new Date(Number(ms)).toISOString(),
  timestampFromMicroseconds: (us: bigint) => new Date(Number(us / 1000n)).toISOString(),
  timestampFromNanoseconds: (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString(),
  dateFromDays: (days: number) => new Date(days * 86_400_000).toISOString().slice(0, 10),
};

/** bigint → number (or string when it would lose digits), Date → ISO string, recursively. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint')
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = plain((value as Record<string, unknown>)[k]);
  return out;
}
