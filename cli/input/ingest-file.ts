/**
 * The ingest pipeline as a library call: file (or stdin) → validated records → master dataset.
 * `strata ingest`, the demo and the benchmark all use it.
 *
 *   const summary = await ingestFile(loadConfig(), { path: 'pageviews.ndjson', dataset: 'pageviews' });
 *   const summary = await ingestFile(store, { path, dataset, format: 'csv', timeField: 'ts', onProgress });
 *   summary.records, summary.recordsPerSecond, summary.mbPerSecond
 *
 * All or nothing: on the first malformed record (or any failure) the staged segments are deleted
 * and the error, naming file, line or row and problem, is thrown; the dataset is unchanged.
 */
import type { StrataConfig } from '../../core/config.ts';
import { DatasetAppender } from '../../core/dataset/dataset-appender.ts';
import { assertDatasetName } from '../../core/dataset/dataset-name.ts';
import type { Logger } from '../../core/log.ts';
import { openStoreFromConfig } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { InputFormat } from './input-record.ts';
import { openInput } from './open-input.ts';
import { RecordValidator } from './record-validator.ts';

export interface IngestOptions {
  /** File path, or '-' for stdin. */
  path: string;
  dataset: string;
  /** Default: from the file extension, else ndjson. */
  format?: InputFormat;
  /** The record field holding the event time. Default 'time'. */
  timeField?: string;
  /** Used when the target is a store (a config supplies its own). */
  segmentTargetBytes?: number;
  blockTargetBytes?: number;
  stdin?: AsyncIterable<Uint8Array>;
  cwd?: string;
  /** Called every few thousand records and once at the end. */
  onProgress?: (progress: IngestProgress) => void;
  log?: Logger;
}

export interface IngestProgress {
  records: number;
  bytesRead: number;
  totalBytes: number | undefined;
}

export interface IngestSummary {
  dataset: string;
  input: string;
  format: InputFormat;
  records: number;
  /** Bytes read from the input. */
  bytesIn: number;
  segments: number;
  /** Bytes of the segments written. */
  segmentBytes: number;
  keys: string[];
  minTime: number | null;
  maxTime: number | null;
  elapsedMs: number;
  recordsPerSecond: number;
  /** Input megabytes (10^6 bytes) per second. */
  mbPerSecond: number;
}

const PROGRESS_EVERY = 4096;

export async function ingestFile(
  target: StrataConfig | ObjectStore,
  options: IngestOptions,
): Promise<IngestSummary> {
  assertDatasetName(options.dataset);
  if (!isStore(target)) {
    const store = await openStoreFromConfig(target);
    try {
      return await ingestFile(store, {
        segmentTargetBytes: target.segmentTargetBytes,
        blockTargetBytes: target.blockTargetBytes,
        cwd: target.cwd,
        ...options,
      });
    } finally {
      await store.close();
    }
  }
  const started = performance.now();
  const timeField = options.timeField ?? 'time';
  const input = await openInput({
    path: options.path,
    ...(options.format ? { format: options.format } : {}),
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const validator = new RecordValidator(input.name, timeField);
  const appender = new DatasetAppender(target, options.dataset, {
    timeField,
    ...(options.segmentTargetBytes !== undefined
      ? { segmentTargetBytes: options.segmentTargetBytes }
      : {}),
    ...(options.blockTargetBytes !== undefined
      ? { blockTargetBytes: options.blockTargetBytes }
      : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const progress = () =>
    options.onProgress?.({ records, bytesRead: input.bytesRead, totalBytes: input.totalBytes });
  let records = 0;
  try {
    for await (const item of input.records()) {
      const wait = appender.append(item.record, validator.timeOf(item));
      if (wait) await wait;
      if (++records % PROGRESS_EVERY === 0) progress();
    }
    progress();
    const result = await appender.commit();
    const elapsedMs = performance.now() - started;
    const times = result.segments.flatMap((s) =>
      s.minTime === null ? [] : [s.minTime, s.maxTime!],
    );
    const summary: IngestSummary = {
      dataset: options.dataset,
      input: input.name,
      format: input.format,
      records: result.records,
      bytesIn: input.bytesRead,
      segments: result.segments.length,
      segmentBytes: result.bytes,
      keys: result.segments.map((s) => s.key),
      minTime: times.length ? Math.min(...times) : null,
      maxTime: times.length ? Math.max(...times) : null,
      elapsedMs,
      recordsPerSecond: result.records / (elapsedMs / 1000),
      mbPerSecond: input.bytesRead / 1e6 / (elapsedMs / 1000),
    };
    options.log?.info(summary, 'ingest committed');
    return summary;
  } catch (err) {
    await appender.abort(err);
    throw err;
  }
}

function isStore(x: StrataConfig | ObjectStore): x is ObjectStore {
  return typeof (x as ObjectStore).put === 'function';
}
