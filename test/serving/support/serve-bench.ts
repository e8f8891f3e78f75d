/**
 * Measures GET throughput and latency of a view server process over a ~100k-key view:
 * publishes the view to a temporary file store, starts `strata serve` as a child process, runs
 * get-load.ts in another, prints its result and stops everything.
 *
 *   $ npx tsx test/serving/support/serve-bench.ts [keys=100000] [concurrency=50] [seconds=10]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../../core/store/open-store.ts';
import { publishView, type Row } from '../../cli/fixtures/publish-view.ts';

const [keys = 100_000, concurrency = 50, seconds = 10] = process.argv.slice(2).map(Number);
const root = path.resolve(import.meta.dirname, '../../..');
const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-serve-bench-'));
try {
  const store = await openStore(`file://${path.join(dir, 'store')}`);
  const rows: Row[] = Array.from({ length: keys }, (_, i) => [[`k${i % 1000}`, i], { count: i, label: `value ${i}` }]);
  await publishView(store, 'bench', rows, { partitions: 8 });
  await store.close();
  const server = spawn(process.execPath, [path.join(root, 'cli/bin.mjs'), 'serve', '--port', '0', '--store', `file://${path.join(dir, 'store')}`], {
    env: { ...process.env, STRATA_HOME: path.join(dir, 'home'), STRATA_REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve) => server.stdout.on('data', (b: Buffer) => resolve(b.toString().trim().split(' ').at(-1)!)));
  const result = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'get-load.ts'), url, 'bench', String(keys), String(concurrency), String(seconds)], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  process.stdout.write(`keys=${keys} concurrency=${concurrency} ${result}`);
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
} finally {
  await rm(dir, { recursive: true, force: true });
}
