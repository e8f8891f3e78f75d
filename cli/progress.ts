/**
 * Progress of a running batch job on stderr, fed with the coordinator's JobStatus answers.
 *
 *   const progress = jobProgress(process.stderr);        // bars on a terminal, plain lines elsewhere
 *   await api.waitFor(job.id, { onStatus: (s) => progress.update(s) });
 *   progress.stop();
 *
 * On a terminal: a cli-progress MultiBar with one bar per phase: map (tasks done/total, input
 * records read, input MB/s), then reduce (tasks, keys written, shuffle MB/s). Anywhere else (CI
 * logs, pipes): one plain line when the state
 * changes and at most every `intervalMs` while it runs, so a log stays readable.
 */
import cliProgress from 'cli-progress';
import type { JobStatus } from './coordinator-client.ts';
import { formatBytes } from './commands/ingest.ts';

export interface JobProgress {
  update(status: JobStatus): void;
  stop(): void;
}

export interface JobProgressOptions {
  /** Default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: milliseconds between lines while nothing but counters changes. Default 2 000. */
  intervalMs?: number;
  now?: () => number;
}

/**
 * When each phase ran, as well as polling can tell: maps from the job's start until the last
 * answer that still had maps running; reduces from then on.
 */
class PhaseClock {
  #mapStart: number | undefined;
  #lastMapping: number | undefined;
  #mapEnd: number | undefined;

  constructor(private readonly now: () => number) {}

  observe(s: JobStatus): { mapSeconds: number; reduceSeconds: number } {
    const t = this.now();
    this.#mapStart ??= s.started ?? t;
    const mapsDone = s.phases.map.total > 0 && s.phases.map.done >= s.phases.map.total;
    if (!mapsDone) this.#lastMapping = t;
    else this.#mapEnd ??= this.#lastMapping ?? t;
    return {
      mapSeconds: Math.max(0, ((this.#mapEnd ?? t) - this.#mapStart) / 1000),
      reduceSeconds: this.#mapEnd === undefined ? 0 : Math.max(0, (t - this.#mapEnd) / 1000),
    };
  }
}

export interface PhaseFigures {
  map: { done: number; total: number; records: number; mbPerSecond: number };
  reduce: {
    done: number;
    total: number;
    records: number;
    shuffledBytes: number;
    mbPerSecond: number;
  };
}

/**
 * The numbers both renderings show: maps read input records and bytes; reduces read the shuffle and
 * write keys.
 */
export function phaseFigures(
  s: JobStatus,
  seconds: { mapSeconds: number; reduceSeconds: number },
): PhaseFigures {
  const { map, reduce } = s.phases;
  const rate = (bytes: number, secs: number) => (secs > 0.05 ? bytes / 1e6 / secs : 0);
  return {
    map: {
      done: map.done,
      total: map.total,
      records: map.counters.recordsIn,
      mbPerSecond: rate(map.counters.bytesIn, seconds.mapSeconds),
    },
    reduce: {
      done: reduce.done,
      total: reduce.total,
      records: reduce.counters.recordsOut,
      shuffledBytes: reduce.counters.shuffleBytes,
      mbPerSecond: rate(reduce.counters.shuffleBytes, seconds.reduceSeconds),
    },
  };
}

export function jobProgress(
  stream: NodeJS.WriteStream,
  options: JobProgressOptions = {},
): JobProgress {
  const now = options.now ?? (() => Date.now());
  return (options.tty ?? Boolean(stream.isTTY))
    ? new BarProgress(stream, now)
    : new LineProgress(stream, now, options.intervalMs ?? 2000);
}

class BarProgress implements JobProgress {
  readonly #clock: PhaseClock;
  readonly #multi: cliProgress.MultiBar;
  #map: cliProgress.SingleBar | undefined;
  #reduce: cliProgress.SingleBar | undefined;

  constructor(stream: NodeJS.WriteStream, now: () => number) {
    this.#clock = new PhaseClock(now);
    this.#multi = new cliProgress.MultiBar(
      // Fits an 80-column terminal: a cut line would hide the rate.
      {
        stream,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 20,
        format: '{phase} [{bar}] {value}/{total} tasks | {amount} | {rate} MB/s',
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(s: JobStatus): void {
    const f = phaseFigures(s, this.#clock.observe(s));
    const mapPayload = {
      phase: 'map   ',
      amount: `${f.map.records.toLocaleString('en-US')} records`,
      rate: f.map.mbPerSecond.toFixed(1),
    };
    const reducePayload = {
      phase: 'reduce',
      amount: `${f.reduce.records.toLocaleString('en-US')} keys`,
      rate: f.reduce.mbPerSecond.toFixed(1),
    };
    if (f.map.total > 0) {
      this.#map ??= this.#multi.create(f.map.total, 0, mapPayload);
      this.#map.setTotal(f.map.total);
      this.#map.update(f.map.done, mapPayload);
    }
    if (f.reduce.total > 0 && (f.map.done >= f.map.total || s.state !== 'mapping')) {
      this.#reduce ??= this.#multi.create(f.reduce.total, 0, reducePayload);
      this.#reduce.setTotal(f.reduce.total);
      this.#reduce.update(f.reduce.done, reducePayload);
    }
  }

  stop(): void {
    this.#multi.stop();
  }
}

class LineProgress implements JobProgress {
  readonly #clock: PhaseClock;
  #lastState: string | undefined;
  #lastAt = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly now: () => number,
    private readonly intervalMs: number,
  ) {
    this.#clock = new PhaseClock(now);
  }

  update(s: JobStatus): void {
    const f = phaseFigures(s, this.#clock.observe(s));
    const t = this.now();
    if (s.state === this.#lastState && t - this.#lastAt < this.intervalMs) return;
    this.#lastState = s.state;
    this.#lastAt = t;
    const map = `map ${f.map.done}/${f.map.total} tasks, ${f.map.records.toLocaleString('en-US')} records, ${f.map.mbPerSecond.toFixed(1)} MB/s`;
    const reduce = `reduce ${f.reduce.done}/${f.reduce.total} tasks${f.reduce.done > 0 ? `, ${f.reduce.records.toLocaleString('en-US')} keys, ${formatBytes(f.reduce.shuffledBytes)} shuffled, ${f.reduce.mbPerSecond.toFixed(1)} MB/s` : ''}`;
    this.stream.write(`job ${s.id} ${s.state}: ${map}; ${reduce}\n`);
  }

  stop(): void {}
}
