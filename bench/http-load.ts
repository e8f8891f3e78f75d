/**
 * An HTTP GET load generator, run as its own process so it never shares an event loop with the
 * server it measures. Prints one JSON line (LoadResult). Two modes:
 *   - closed loop (default): `concurrency` keep-alive connections, each sending its next request
 *     when the last answer ends. It finds the most a server can do; its latency at that point is
 *     mostly time spent waiting for a saturated CPU.
 *   - fixed rate (`--rate R`): open loop. Request k is due at start + k/R whether or not earlier
 *     ones were answered, and its latency runs from that due time, not from when it was sent, so
 *     time queued behind a slow answer (in the server, or for one of the `concurrency` sockets)
 *     counts, as a user arriving at that moment would see it (no coordinated omission).
 * Both run for `seconds` after `warmup` unmeasured seconds (in the same mode).
 *
 *   $ npx tsx bench/http-load.ts --url http://127.0.0.1:7080/v1/views/bench/get/ --keys 1000000
 *   $ npx tsx bench/http-load.ts --url … --rate 2000        # p50/p99 at 2,000 req/s
 *
 * Each request asks for a random existing key: `url` + serveKeyPath(i), i uniform in [0, keys).
 * Any status but 200 counts as an error.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { serveKeyPath } from './serve-keys.ts';

export interface LoadResult {
  mode: 'closed' | 'rate';
  /** Requests/s asked for (rate mode only). */
  targetRps?: number;
  requests: number;
  errors: number;
  /** Answers per second over the measured window. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * Rate mode: p99 of how late the generator itself sent requests after their due time. Beyond a
   * few ms the generator, not the server, fell behind, and the figures understate the rate.
   */
  sendLagP99Ms?: number;
  seconds: number;
  /** Requests sent during the unmeasured warmup (the server did that work too). */
  warmupRequests: number;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    keys: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '50' },
    rate: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
  },
});
if (!values.url) throw new Error('http-load: pass --url http://host:port/path/prefix/');
const base = new URL(values.url);
const keys = Number(values.keys);
const concurrency = Number(values.concurrency);
const rate = Number(values.rate);
if (!(Number.isInteger(concurrency) && concurrency > 0))
  throw new Error(
    `http-load: --concurrency must be a whole number above 0; got ${values.concurrency}`,
  );
if (!(Number.isFinite(rate) && rate >= 0))
  throw new Error(
    `http-load: --rate must be requests per second (0 = closed loop); got ${values.rate}`,
  );
// In rate mode this caps the open connections; requests beyond it wait for a socket, and that wait
// counts.
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

function get(path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: base.hostname, port: base.port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

const randomPath = () => base.pathname + serveKeyPath(Math.floor(Math.random() * keys));

/** A growable list of latencies in ms. */
class Samples {
  #a = new Float64Array(1 << 16);
  length = 0;
  push(x: number): void {
    if (this.length === this.#a.length) {
      const grown = new Float64Array(this.#a.length * 2);
      grown.set(this.#a);
      this.#a = grown;
    }
    this.#a[this.length++] = x;
  }
  sorted(): Float64Array {
    return this.#a.subarray(0, this.length).sort();
  }
}

interface Run {
  latencies: Samples;
  lags: Samples;
  count: number;
  errors: number;
  ms: number;
}

async function driveClosed(seconds: number): Promise<Run> {
  const run: Run = { latencies: new Samples(), lags: new Samples(), count: 0, errors: 0, ms: 0 };
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const status = await get(randomPath());
        run.latencies.push(performance.now() - t);
        run.count++;
        if (status !== 200) run.errors++;
      }
    }),
  );
  run.ms = performance.now() - t0;
  return run;
}

/** Sends request k at t0 + k/rate for `seconds`, then waits for the answers still due. */
function driveRate(seconds: number): Promise<Run> {
  const run: Run = { latencies: new Samples(), lags: new Samples(), count: 0, errors: 0, ms: 0 };
  const total = Math.floor(seconds * rate);
  const interval = 1000 / rate;
  const t0 = performance.now();
  let sent = 0;
  let answered = 0;
  return new Promise<Run>((resolve) => {
    const finish = () => {
      run.ms = performance.now() - t0;
      resolve(run);
    };
    if (total === 0) return finish();
    // A timer cannot fire more often than every ~1 ms: each tick sends every request already due.
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) {
        const due = t0 + sent * interval;
        sent++;
        run.lags.push(now - due);
        void get(randomPath()).then((status) => {
          run.latencies.push(performance.now() - due);
          run.count++;
          if (status !== 200) run.errors++;
          if (++answered === total) finish();
        });
      }
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
    };
    tick();
  });
}

const drive = (seconds: number) => (rate > 0 ? driveRate(seconds) : driveClosed(seconds));
const warm = await drive(Number(values.warmup));
const run = await drive(Number(values.seconds));
const quantile = (sorted: Float64Array, p: number) =>
  Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(2));
const latencies = run.latencies.sorted();
const result: LoadResult = {
  mode: rate > 0 ? 'rate' : 'closed',
  ...(rate > 0 ? { targetRps: rate } : {}),
  requests: run.count,
  errors: run.errors,
  rps: Math.round((run.count / run.ms) * 1000),
  p50Ms: quantile(latencies, 0.5),
  p99Ms: quantile(latencies, 0.99),
  maxMs: quantile(latencies, 1),
  ...(rate > 0 ? { sendLagP99Ms: quantile(run.lags.sorted(), 0.99) } : {}),
  seconds: run.ms / 1000,
  warmupRequests: warm.count,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
