/**
 * A load loop for the view server, run as its own process so it does not share the server's
 * event loop: `concurrency` keep-alive clients GET random keys for `seconds`, then one JSON line
 * { requests, errors, rps, p50Ms, p99Ms } on stdout.
 *
 *   $ npx tsx test/serving/support/get-load.ts http://127.0.0.1:7080 bench 100000 50 10
 *
 * Keys are ['k<i % 1000>', i] for i in [0, keys), as serve-bench.ts publishes them.
 */
import { Agent, request } from 'node:http';

const [url = '', view = 'bench', keysArg = '100000', concArg = '50', secondsArg = '10'] = process.argv.slice(2);
const keys = Number(keysArg);
const concurrency = Number(concArg);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const { hostname, port } = new URL(url);
const latencies: number[] = [];
let errors = 0;
const until = Date.now() + Number(secondsArg) * 1000;

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      const i = Math.floor(Math.random() * keys);
      const t = performance.now();
      const status = await get(`/v1/views/${view}/get/k${i % 1000}/${i}`).catch(() => 0);
      latencies.push(performance.now() - t);
      if (status !== 200) errors++;
    }
  }),
);
latencies.sort((a, b) => a - b);
const q = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2));
process.stdout.write(`${JSON.stringify({ requests: latencies.length, errors, rps: Math.round(latencies.length / Number(secondsArg)), p50Ms: q(0.5), p99Ms: q(0.99) })}\n`);
agent.destroy();
