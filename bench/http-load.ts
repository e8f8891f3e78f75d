/**
 * An HTTP GET load generator, run as its own process so it never shares an event loop with the
 * server it measures: `concurrency` keep-alive connections (node:http Agent), each sending its
 * next request when the last answer ends, for `seconds` after `warmup` unmeasured seconds.
 * Prints one JSON line: { requests, errors, rps, p50Ms, p99Ms, seconds, warmupRequests }.
 *
 *   $ npx tsx bench/http-load.ts --url http://127.0.0.1:7080/v1/views/bench/get/ --keys 1000000
 *
 * Each request asks for a random existing key: `url` + serveKeyPath(i), i uniform in [0, keys).
 * Any status but 200 counts as an error.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { serveKeyPath } from './serve-keys.ts';

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
  /** Requests sent during the unmeasured warmup (the server did that work too). */
  warmupRequests: number;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    keys: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
  },
});
if (!values.url) throw new Error('http-load: pass --url http://host:port/path/prefix/');
const base = new URL(values.url);
const keys = Number(values.keys);
const concurrency = Number(values.concurrency);
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

async function drive(seconds: number, record: boolean): Promise<{ latencies: Float64Array; count: number; errors: number; ms: number }> {
  let latencies = new Float64Array(record ? 1 << 18 : 0);
  let count = 0;
  let errors = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const i = Math.floor(Math.random() * keys);
        const t = performance.now();
        const status = await get(base.pathname + serveKeyPath(i));
        if (!record) {
          count++;
          continue;
        }
        if (count === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[count++] = performance.now() - t;
        if (status !== 200) errors++;
      }
    }),
  );
  return { latencies: latencies.subarray(0, record ? count : 0), count, errors, ms: performance.now() - t0 };
}

const warm = await drive(Number(values.warmup), false);
const run = await drive(Number(values.seconds), true);
const sorted = run.latencies.sort();
const q = (p: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(2));
const result: LoadResult = { requests: run.count, errors: run.errors, rps: Math.round((run.count / run.ms) * 1000), p50Ms: q(0.5), p99Ms: q(0.99), seconds: run.ms / 1000, warmupRequests: warm.count };
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
