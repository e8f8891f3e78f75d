/**
 * `strata ingest <file|-> --dataset NAME [--format ndjson|csv|parquet] [--time-field F] [--store
 * URL] [--json]`
 * `strata ingest --follow <file|-> --dataset NAME [--time-field F] [--ingest-time] [--speed URL]
 * [--token T]`
 *
 *   strata ingest pageviews.ndjson --dataset pageviews
 *   gunzip -c ticks.csv.gz | strata ingest - --format csv --dataset ticks --time-field ts
 *   strata ingest --follow /var/log/ticks.ndjson --dataset ticks     # like tail -f, into the speed layer
 *
 * Streams a file of any size into the master dataset, all or nothing (see
 * cli/input/ingest-file.ts).
 * With --follow it keeps reading what is appended and sends NDJSON batches through the speed
 * layer (cli/input/follow-ingest.ts) until Ctrl-C, which stops after the batch in flight is
 * answered.
 * A progress bar (or line) goes to stderr when it is a terminal; the summary goes to stdout.
 */
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { readClusterFile } from '../../core/cluster-file.ts';
import { loadConfig, type StrataConfig } from '../../core/config.ts';
import { StrataError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import {
  followIngest,
  type FollowProgress,
  type FollowRetry,
  type FollowSummary,
} from '../input/follow-ingest.ts';
import { SpeedClient } from '../speed-client.ts';
import { ingestFile, type IngestProgress, type IngestSummary } from '../input/ingest-file.ts';
import { INPUT_FORMATS, type InputFormat } from '../input/input-record.ts';

interface IngestFlags {
  dataset: string;
  format?: InputFormat;
  timeField: string;
  store?: string;
  json?: boolean;
  follow?: boolean;
  speed?: string;
  token?: string;
  ingestTime?: boolean;
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description(
      'append the records of an NDJSON, CSV or Parquet file to a dataset (a bad record stores nothing)',
    )
    .argument('<file>', 'input file, or - for stdin')
    .requiredOption('-d, --dataset <name>', 'dataset to append to ([a-z0-9][a-z0-9_-]*)')
    .addOption(
      new Option(
        '--format <format>',
        'input format (default: from the file extension, else ndjson)',
      ).choices(INPUT_FORMATS),
    )
    .option(
      '--time-field <field>',
      'record field with the event time: ISO-8601 with a time zone, or epoch milliseconds',
      'time',
    )
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option('--json', 'print the summary as JSON')
    .option(
      '--follow',
      'keep reading what is appended to the file (like tail -f; stdin until it ends) and send NDJSON batches through the speed layer, until Ctrl-C',
    )
    .option('--ingest-time', 'with --follow: records without the time field get the ingest time')
    .option(
      '--speed <url>',
      'with --follow: speed layer URL (default: STRATA_SPEED_URL, else .strata/cluster.json)',
    )
    .option(
      '--token <token>',
      'with --follow: the cluster token (default: STRATA_TOKEN, else .strata/cluster.json)',
    )
    .action(async (file: string, flags: IngestFlags) => {
      if (flags.follow) return follow(file, flags);
      if (flags.ingestTime || flags.speed || flags.token)
        throw new StrataError(
          'STRATA_E_USAGE',
          '--ingest-time, --speed and --token go with --follow (a plain ingest writes to the store directly)',
        );
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
      process.stdout.write(
        flags.json ? `${JSON.stringify(summary)}\n` : `${describeSummary(summary)}\n`,
      );
    });
}

async function follow(file: string, flags: IngestFlags): Promise<void> {
  if (flags.format && flags.format !== 'ndjson')
    throw new StrataError(
      'STRATA_E_USAGE',
      `--follow reads NDJSON (one JSON object per line), not ${flags.format}`,
    );
  if (flags.store)
    throw new StrataError(
      'STRATA_E_USAGE',
      '--follow sends records through the speed layer, which writes to its own store: drop --store (or pass --speed URL)',
    );
  const config = loadConfig({ overrides: { speedUrl: flags.speed, token: flags.token } });
  const client = await speedClientOf(config);
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    if (++interrupted > 1) process.exit(130); // a second Ctrl-C: do not wait for the batch in flight
    process.stderr.write(
      '\nstrata ingest: stopping after the batch in flight is answered (Ctrl-C again to quit at once)…\n',
    );
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const line = new FollowLine(Boolean(process.stderr.isTTY));
  let summary: FollowSummary;
  try {
    summary = await followIngest({
      path: file,
      dataset: flags.dataset,
      client,
      signal: stop.signal,
      timeField: flags.timeField,
      ...(flags.ingestTime ? { ingestTime: true } : {}),
      onProgress: (p) => line.progress(p),
      onRetry: (r) => line.note(describeRetry(r)),
      onNotice: (m) => line.note(`strata ingest: ${m}`),
    });
  } finally {
    line.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.stdout.write(
    flags.json ? `${JSON.stringify(summary)}\n` : `${describeFollowSummary(summary)}\n`,
  );
}

async function speedClientOf(config: StrataConfig): Promise<SpeedClient> {
  const cluster = await readClusterFile(config.home);
  const url = config.speedUrl || cluster?.speedUrl;
  const token = config.token || cluster?.token;
  if (!url) {
    throw new StrataError(
      'STRATA_E_SPEED_UNAVAILABLE',
      `no speed layer is configured and no cluster is running here (${config.home}/cluster.json has none); start one with strata dev (or strata speed), or pass --speed URL`,
      {
        details: { home: config.home },
      },
    );
  }
  if (!token)
    throw new StrataError(
      'STRATA_E_AUTH',
      `no token for the speed layer at ${url}; pass --token or set STRATA_TOKEN`,
      { details: { url } },
    );
  return new SpeedClient({ url, token });
}

function describeRetry(r: FollowRetry): string {
  return `strata ingest: batch of ${r.records.toLocaleString('en-US')} records (lines ${r.firstLine}–${r.lastLine}) failed: ${r.error.message} [${r.error.code}]; sending it again in ${(r.delayMs / 1000).toFixed(1)} s (attempt ${r.attempt})`;
}

export function describeFollowSummary(s: FollowSummary): string {
  const rate = Math.round(s.recordsPerSecond).toLocaleString('en-US');
  const why = s.stoppedBy === 'signal' ? 'stopped on request' : `${s.input} ended`;
  const left =
    s.unacknowledged > 0
      ? `; ${s.unacknowledged.toLocaleString('en-US')} records read were not acknowledged (not sent, or their batch was not answered), so send them again`
      : '';
  return (
    `followed ${s.input} into "${s.dataset}": ${s.records.toLocaleString('en-US')} records acknowledged in ${s.batches} batch${s.batches === 1 ? '' : 'es'} over ${(s.elapsedMs / 1000).toFixed(1)} s ` +
    `(${rate} records/s), ${s.retries} retr${s.retries === 1 ? 'y' : 'ies'}; ${why}${left}`
  );
}

/**
 * Progress of --follow on stderr: one rewritten line on a terminal, a line every 10 s otherwise.
 */
class FollowLine {
  readonly #tty: boolean;
  #shown = false;
  #lastPrinted = 0;
  #previous = { at: performance.now(), records: 0 };

  constructor(tty: boolean) {
    this.#tty = tty;
  }

  progress(p: FollowProgress): void {
    const now = performance.now();
    const rate = (
      (p.records - this.#previous.records) /
      Math.max(0.001, (now - this.#previous.at) / 1000)
    ).toFixed(0);
    this.#previous = { at: now, records: p.records };
    const text = `follow: ${p.records.toLocaleString('en-US')} records acknowledged (${Number(rate).toLocaleString('en-US')}/s now, ${Math.round(p.recordsPerSecond).toLocaleString('en-US')}/s overall), ${p.batches} batches, ${p.retries} retries${p.last ? `, last commit ${p.last.commitId} (bucket ${p.last.bucket})` : ''}`;
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      this.#shown = true;
    } else if (now - this.#lastPrinted >= 10_000) {
      process.stderr.write(`${text}\n`);
      this.#lastPrinted = now;
    }
  }

  note(text: string): void {
    if (this.#shown) process.stderr.write('\r\x1b[2K');
    this.#shown = false;
    process.stderr.write(`${text}\n`);
  }

  stop(): void {
    if (this.#shown) process.stderr.write('\n');
    this.#shown = false;
  }
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
    const rate = Math.round(
      p.records / Math.max(0.001, (performance.now() - this.#started) / 1000),
    ).toLocaleString('en-US');
    const payload = {
      records: p.records.toLocaleString('en-US'),
      rate,
      read: formatBytes(p.bytesRead),
      size: p.totalBytes === undefined ? '?' : formatBytes(p.totalBytes),
    };
    if (!this.#bar) {
      const format = p.totalBytes
        ? 'ingest [{bar}] {percentage}% | {read}/{size} | {records} records | {rate} records/s'
        : 'ingest {read} | {records} records | {rate} records/s';
      this.#bar = new cliProgress.SingleBar(
        { format, stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(p.totalBytes ?? 0, p.bytesRead, payload);
    }
    this.#bar.update(p.bytesRead, payload);
  }

  stop(): void {
    this.#bar?.stop();
  }
}
