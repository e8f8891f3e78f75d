/**
 * `strata ingest <file|-> --dataset NAME [--format ndjson|csv|parquet] [--time-field F] [--store URL] [--json]`
 *
 *   strata ingest pageviews.ndjson --dataset pageviews
 *   gunzip -c ticks.csv.gz | strata ingest - --format csv --dataset ticks --time-field ts
 *
 * Streams a file of any size into the master dataset, all or nothing (see cli/input/ingest-file.ts).
 * A progress bar goes to stderr when it is a terminal; the summary goes to stdout.
 */
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { ingestFile, type IngestProgress, type IngestSummary } from '../input/ingest-file.ts';
import { INPUT_FORMATS, type InputFormat } from '../input/input-record.ts';

interface IngestFlags {
  dataset: string;
  format?: InputFormat;
  timeField: string;
  store?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description('append the records of an NDJSON, CSV or Parquet file to a dataset (a bad record stores nothing)')
    .argument('<file>', 'input file, or - for stdin')
    .requiredOption('-d, --dataset <name>', 'dataset to append to ([a-z0-9][a-z0-9_-]*)')
    .addOption(new Option('--format <format>', 'input format (default: from the file extension, else ndjson)').choices(INPUT_FORMATS))
    .option('--time-field <field>', 'record field with the event time: ISO-8601 with a time zone, or epoch milliseconds', 'time')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, flags: IngestFlags) => {
      const config = loadConfig({ overrides: { store: flags.store } });
      const log = createLogger(config).child({ component: 'ingest', dataset: flags.dataset });
      const bar = process.stderr.isTTY ? new ProgressBar() : undefined;
      let summary: IngestSummary;
      try {
        summary = await ingestFile(config, {
          path: file,
          dataset: flags.dataset,
          timeField: flags.timeField,
          ...(flags.format ? { format: flags.format } : {}),
          ...(bar ? { onProgress: (p: IngestProgress) => bar.update(p) } : {}),
          log,
        });
      } finally {
        bar?.stop();
      }
      process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${describeSummary(summary)}\n`);
    });
}

export function describeSummary(s: IngestSummary): string {
  const segs = `${s.segments} segment${s.segments === 1 ? '' : 's'} (${formatBytes(s.segmentBytes)})`;
  return (
    `ingested ${s.records.toLocaleString('en-US')} records into "${s.dataset}" from ${s.input} (${s.format}): ` +
    `${formatBytes(s.bytesIn)} in, ${segs} written in ${(s.elapsedMs / 1000).toFixed(2)} s — ` +
    `${Math.round(s.recordsPerSecond).toLocaleString('en-US')} records/s, ${s.mbPerSecond.toFixed(1)} MB/s`
  );
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Bytes read of the file size when known, else a running record count; records/s either way. */
class ProgressBar {
  readonly #started = performance.now();
  #bar: cliProgress.SingleBar | undefined;

  update(p: IngestProgress): void {
    const rate = Math.round(p.records / Math.max(0.001, (performance.now() - this.#started) / 1000)).toLocaleString('en-US');
    const payload = { records: p.records.toLocaleString('en-US'), rate, read: formatBytes(p.bytesRead), size: p.totalBytes === undefined ? '?' : formatBytes(p.totalBytes) };
    if (!this.#bar) {
      const format = p.totalBytes ? 'ingest [{bar}] {percentage}% | {read}/{size} | {records} records | {rate} records/s' : 'ingest {read} | {records} records | {rate} records/s';
      this.#bar = new cliProgress.SingleBar({ format, stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
      this.#bar.start(p.totalBytes ?? 0, p.bytesRead, payload);
    }
    this.#bar.update(p.bytesRead, payload);
  }

  stop(): void {
    this.#bar?.stop();
  }
}
