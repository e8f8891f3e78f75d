/**
 * Opens an ingest input: a file or stdin (`-`), its format guessed from the extension, and its
 * bytes counted for progress.
 *
 *   const input = await openInput({ path: 'events.csv' });
 *   input.format      // 'csv' (from the extension; ndjson when it says nothing)
 *   for await (const r of input.records()) …; input.bytesRead
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '../../core/errors.ts';
import { readCsv } from './csv-reader.ts';
import { INPUT_FORMATS, type InputFormat, type InputRecord } from './input-record.ts';
import { readNdjson } from './ndjson-reader.ts';
import { readParquet } from './parquet-reader.ts';

export interface OpenInputOptions {
  /** A file path, or '-' for stdin. */
  path: string;
  format?: InputFormat;
  /** What '-' reads (default process.stdin). */
  stdin?: AsyncIterable<Uint8Array>;
  /** Resolves relative paths (default process.cwd()). */
  cwd?: string;
}

export interface OpenedInput {
  /** How messages name the input: the path as given, or 'stdin'. */
  name: string;
  format: InputFormat;
  /** File size, when known. */
  totalBytes: number | undefined;
  readonly bytesRead: number;
  records(): AsyncGenerator<InputRecord>;
}

const EXTENSIONS: Record<string, InputFormat> = {
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'ndjson',
  '.csv': 'csv',
  '.parquet': 'parquet',
  '.pq': 'parquet',
};
const READ_CHUNK = 1024 * 1024;

export function guessFormat(file: string): InputFormat {
  return EXTENSIONS[path.extname(file).toLowerCase()] ?? 'ndjson';
}

export async function openInput(options: OpenInputOptions): Promise<OpenedInput> {
  if (options.format !== undefined && !INPUT_FORMATS.includes(options.format)) {
    throw new StrataError(
      'STRATA_E_USAGE',
      `format ${JSON.stringify(options.format)} is not one of ${INPUT_FORMATS.join(', ')}`,
      { details: { format: options.format } },
    );
  }
  let bytesRead = 0;
  const count = async function* (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      bytesRead += chunk.length;
      yield chunk;
    }
  };
  if (options.path === '-') {
    const format = options.format ?? 'ndjson';
    if (format === 'parquet')
      throw new StrataError(
        'STRATA_E_USAGE',
        'Parquet cannot be read from stdin (it needs random access); pass the file path instead of -',
      );
    const stdin = options.stdin ?? (process.stdin as AsyncIterable<Uint8Array>);
    const name = 'stdin';
    return {
      name,
      format,
      totalBytes: undefined,
      get bytesRead() {
        return bytesRead;
      },
      records: () =>
        format === 'csv'
          ? readCsv(count(stdin), { file: name })
          : readNdjson(count(stdin), { file: name }),
    };
  }
  const file = path.resolve(options.cwd ?? process.cwd(), options.path);
  const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new StrataError(
      'STRATA_E_INPUT_NOT_FOUND',
      `cannot open input ${options.path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}; check the path (relative paths start at ${options.cwd ?? process.cwd()})`,
      {
        cause: err,
        details: { path: options.path },
      },
    );
  });
  if (!stat.isFile())
    throw new StrataError(
      'STRATA_E_INPUT_NOT_FOUND',
      `input ${options.path} is not a file; give one file (or - for stdin)`,
      { details: { path: options.path } },
    );
  const format = options.format ?? guessFormat(file);
  const name = options.path;
  return {
    name,
    format,
    totalBytes: stat.size,
    get bytesRead() {
      return bytesRead;
    },
    records: () => {
      if (format === 'parquet')
        return readParquet(file, { file: name, onBytes: (n) => (bytesRead += n) });
      const bytes = count(createReadStream(file, { highWaterMark: READ_CHUNK }));
      return format === 'csv' ? readCsv(bytes, { file: name }) : readNdjson(bytes, { file: name });
    },
  };
}
