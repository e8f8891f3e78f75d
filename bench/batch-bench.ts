/**
 * `npm run bench -- batch [--records N] [--workers 2]`: the pageviews job (count per [url, hour])
 * on a real local cluster (redis-server, coordinator, N worker processes, gRPC shuffle), beside
 * two baselines computing the same counts from the same NDJSON in the same run:
 *   - a hand-written single-threaded Node loop (read, JSON.parse, count in a Map),
 *   - DuckDB (read_json over the file, GROUP BY url, hour).
 * Then task scheduling overhead: empty plain tasks per second through the pool.
 * The job's answers are checked against the loop's before any figure is printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { bundleJob, uploadBundle } from '../cli/bundle-job.ts';
import { startLocalCluster } from '../cli/cluster/local-cluster.ts';
import { CoordinatorClient } from '../cli/coordinator-client.ts';
import { ingestFile } from '../cli/input/ingest-file.ts';
import { connectPool } from '../cli/pool/connect-pool.ts';
import { openStore } from '../core/store/open-store.ts';
import { ViewReader } from '../core/views/view-reader.ts';
import { eventHour } from '../examples/web-analytics/event-hour.ts';
import { writePageviewsNdjson } from '../examples/web-analytics/generate-pageviews.ts';
import { forEachLine } from './read-ndjson-lines.ts';

const PAGEVIEWS_JOB = new URL('../examples/web-analytics/pageviews.ts', import.meta.url).pathname;

/** The single-threaded baseline: exactly what the job computes, by hand. */
async function nodeLoop(
  file: string,
): Promise<{ counts: Map<string, number>; ms: number; records: number }> {
  const t0 = performance.now();
  const counts = new Map<string, number>();
  let records = 0;
  await forEachLine(file, (line) => {
    const pv = JSON.parse(line) as { url: string; time: string };
    const key = `${pv.url}\u0000${eventHour(pv.time)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    records++;
  });
  return { counts, ms: performance.now() - t0, records };
}

async function duckdb(file: string): Promise<{ ms: number; groups: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const t0 = performance.now();
  const reader = await conn.runAndReadAll(
    `SELECT url, substr(time, 1, 13) AS hour, count(*) AS n FROM read_json('${file.replace(/'/g, "''")}', format = 'newline_delimited', columns = {time: 'VARCHAR', url: 'VARCHAR'}) GROUP BY url, hour`,
  );
  const ms = performance.now() - t0;
  const groups = reader.getRowObjects().length;
  conn.closeSync();
  instance.closeSync();
  return { ms, groups };
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '5000000' },
      workers: { type: 'string', default: '2' },
      calls: { type: 'string', default: '2000' },
    },
  });
  const count = Number(values.records);
  const workers = Number(values.workers);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-batch-'));
  const say = (s: string) => process.stdout.write(`${s}\n`);
  try {
    const file = path.join(dir, 'pageviews.ndjson');
    const { bytes } = await writePageviewsNdjson(count, file, { seed: 11 });
    const mb = bytes / 1e6;
    say(
      `input: ${count.toLocaleString('en-US')} events, ${mb.toFixed(0)} MB NDJSON; ${workers} worker processes on ${os.cpus().length} cores`,
    );

    const storeUrl = `file://${path.join(dir, 'store')}`;
    const store = await openStore(storeUrl);
    const ingest = await ingestFile(store, { path: file, dataset: 'pageviews' });
    say(
      `ingest: ${Math.round(ingest.recordsPerSecond).toLocaleString('en-US')} records/s (${ingest.segments} segments, ${(ingest.segmentBytes / 1e6).toFixed(0)} MB stored)`,
    );

    const loop = await nodeLoop(file);
    const duck = await duckdb(file);

    const cluster = await startLocalCluster({
      home: path.join(dir, 'cluster'),
      workers,
      store: storeUrl,
      logLevel: 'warn',
      noClusterFile: true,
      workerConfig: { workerThreads: 1 },
    });
    try {
      const client = new CoordinatorClient({
        url: cluster.info.coordinatorUrl,
        token: cluster.info.token,
      });
      const { bundle, spec } = await bundleJob(PAGEVIEWS_JOB);
      await uploadBundle(store, bundle);
      const t0 = performance.now();
      const submitted = await client.submit({ ...spec, codeHash: bundle.sha256 });
      const final = await client.waitFor(submitted.id, { intervalMs: 100 });
      const jobMs = performance.now() - t0;
      if (final.state !== 'succeeded')
        throw new Error(`the pageviews job ended ${final.state}: ${final.error?.message ?? ''}`);

      // Correctness first: every key of the loop's answer must match the view.
      const view = await ViewReader.open(store, spec.view);
      let checked = 0;
      for (const [k, n] of loop.counts) {
        const [url, hour] = k.split('\u0000') as [string, string];
        const got = await view.get([url, hour]);
        if (got !== n)
          throw new Error(
            `view disagrees with the loop at [${url}, ${hour}]: ${String(got)} vs ${n}`,
          );
        if (++checked >= 2000) break;
      }
      await view.close();

      const rate = (ms: number) => (count / ms) * 1000;
      say(
        `strata pageviews job: ${(jobMs / 1000).toFixed(1)} s, ${Math.round(rate(jobMs)).toLocaleString('en-US')} records/s, ${(mb / (jobMs / 1000)).toFixed(1)} MB/s (NDJSON-equivalent), ${final.phases.map.total} maps, ${final.phases.reduce.total} reduces`,
      );
      say(
        `single-threaded Node loop: ${(loop.ms / 1000).toFixed(1)} s, ${Math.round(rate(loop.ms)).toLocaleString('en-US')} records/s`,
      );
      say(
        `DuckDB (read_json + GROUP BY): ${(duck.ms / 1000).toFixed(1)} s, ${Math.round(rate(duck.ms)).toLocaleString('en-US')} records/s (${duck.groups} groups; the loop found ${loop.counts.size})`,
      );
      say(
        `ratios: strata / loop = ${(loop.ms / jobMs).toFixed(2)}x, strata / DuckDB = ${(duck.ms / jobMs).toFixed(2)}x (1.0 = as fast)`,
      );
      say(`checked ${checked} keys of the view against the loop: all equal`);

      const calls = Number(values.calls);
      const pool = await connectPool(new URL('./noop-task.ts', import.meta.url), {
        redisUrl: cluster.info.redisUrl,
        redisPrefix: cluster.info.redisPrefix,
        store: storeUrl,
      });
      try {
        await pool.map('noop', [[0], [1]]); // warm the bundle cache on the workers
        const c0 = performance.now();
        await pool.map(
          'noop',
          Array.from({ length: calls }, (_, i) => [i]),
        );
        const callMs = performance.now() - c0;
        say(
          `scheduling overhead: ${calls} empty tasks in ${(callMs / 1000).toFixed(2)} s = ${Math.round((calls / callMs) * 1000).toLocaleString('en-US')} tasks/s through BullMQ and worker threads`,
        );
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
