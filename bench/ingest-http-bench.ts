/**
 * `npm run bench -- ingest-http [--seconds 15] [--clients 32] [--batch 2000] [--linger 2]
 * [--parse-threads N] [--profile]`:
 * sustained records/s through the speed layer's HTTP ingest with durable acknowledgement
 * (`strata speed` as a child process over its own redis-server and a file store; `clients`
 * keep-alive connections each posting the next NDJSON batch of stock-tick records as soon as the
 * last one is acknowledged), beside a baseline measured in the same run: a plain Node loop
 * appending the same NDJSON batches to a local file with an fsync per batch. The ratio is the
 * figure to quote. Afterwards the dataset's segment footers must count exactly the acknowledged
 * records.
 *
 * The issue quotes 200K messages/s for a Kafka pipeline (many brokers and cores); this machine
 * has 2 cores shared by the load generator, the server and Redis.
 */
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { settingsEnv } from '../cli/cluster/local-cluster.ts';
import { startService } from '../cli/cluster/service-process.ts';
import { datasetStats } from '../core/dataset/dataset-stats.ts';
import { startRedisServer } from '../core/redis/start-redis-server.ts';
import { openStore } from '../core/store/open-store.ts';
import { tickBatches } from './ingest-http-ticks.ts';
import { summarizeCpuProfile } from './serve-profile.ts';

const TOKEN = 'bench-token';
const say = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface LoadResult {
  records: number;
  requests: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

/** `clients` closed loops posting batches for `seconds`; only acknowledged (200) records count. */
async function load(
  url: string,
  bodies: Buffer[],
  perBody: number,
  clients: number,
  seconds: number,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL(`${url}/v1/datasets/ticks/records`);
  const latencies: number[] = [];
  let records = 0;
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const post = (body: Buffer) =>
    new Promise<number>((resolve) => {
      const req = request(
        {
          agent,
          method: 'POST',
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/x-ndjson',
            'content-length': body.length,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = c; performance.now() < end; i += clients) {
        const s = performance.now();
        const status = await post(bodies[i % bodies.length]!);
        requests++;
        if (status === 200) {
          records += perBody;
          latencies.push(performance.now() - s);
        } else errors++;
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    records,
    requests,
    errors,
    seconds: (performance.now() - t0) / 1000,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
  };
}

/** The baseline: append each batch's bytes to one file and fsync, as fast as one loop can. */
async function appendFsync(
  file: string,
  bodies: Buffer[],
  perBody: number,
  seconds: number,
): Promise<{ records: number; seconds: number }> {
  const handle = await open(file, 'a');
  let records = 0;
  const t0 = performance.now();
  try {
    for (let i = 0; performance.now() - t0 < seconds * 1000; i++) {
      await handle.write(bodies[i % bodies.length]!);
      await handle.sync();
      records += perBody;
    }
  } finally {
    await handle.close();
  }
  return { records, seconds: (performance.now() - t0) / 1000 };
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '15' },
      clients: { type: 'string', default: '32' },
      batch: { type: 'string', default: '2000' },
      linger: { type: 'string', default: '2' },
      'parse-threads': { type: 'string', default: '-1' },
      profile: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const clients = Number(values.clients);
  const perBody = Number(values.batch);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-speed-'));
  const redis = await startRedisServer({ dir: path.join(dir, 'redis') });
  const storeUrl = `file://${path.join(dir, 'store')}`;
  try {
    const bodies = tickBatches(64, perBody, 11);
    const bytesPerRecord = bodies.reduce((n, b) => n + b.length, 0) / (bodies.length * perBody);
    say(
      `input: ${bodies.length} distinct NDJSON batches of ${fmt(perBody)} stock ticks (~${bytesPerRecord.toFixed(0)} bytes/record), ${clients} clients, ${seconds} s, parse threads ${values['parse-threads']} (-1: cores - 1); ${os.cpus().length} cores`,
    );

    const speed = await startService({
      name: 'speed',
      args: ['speed'],
      nodeArgs: values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, 'profile')}`] : [],
      env: {
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
        ),
        ...settingsEnv({
          home: path.join(dir, 'home'),
          store: storeUrl,
          redisUrl: redis.url,
          redisPrefix: 'bench',
          token: TOKEN,
          speedPort: 0,
          speedLingerMs: values.linger,
          speedParseThreads: values['parse-threads'],
          logLevel: 'warn',
        }),
      },
      logFile: path.join(dir, 'speed.log'),
      isReady: (line) => line.startsWith('speed listening on '),
    });
    const url = speed.readyLine.replace('speed listening on ', '');
    let result: LoadResult;
    let metrics: string;
    try {
      await load(url, bodies, perBody, clients, 2); // warm-up (JIT, segment folders)
      result = await load(url, bodies, perBody, clients, seconds);
      metrics = await (await fetch(`${url}/metrics`)).text();
    } finally {
      await speed.stop();
    }
    const base = await appendFsync(
      path.join(dir, 'baseline.ndjson'),
      bodies,
      perBody,
      Math.min(seconds, 10),
    );

    const store = await openStore(storeUrl);
    const stats = await datasetStats(store, 'ticks');
    await store.close();
    const warmupAndRun = Number(
      /^strata_speed_records_total\{dataset="ticks"\} (\d+)$/m.exec(metrics)?.[1],
    );
    if (stats.records !== warmupAndRun)
      throw new Error(
        `the dataset holds ${stats.records} records but the server acknowledged ${warmupAndRun}`,
      );
    const commits = Number(
      /^strata_speed_commits_total\{dataset="ticks",outcome="ok"\} (\d+)$/m.exec(metrics)?.[1],
    );
    const commitSum = Number(
      /^strata_speed_commit_duration_seconds_sum\{dataset="ticks"\} ([\d.e+-]+)$/m.exec(
        metrics,
      )?.[1],
    );

    const rps = result.records / result.seconds;
    const baseRps = base.records / base.seconds;
    say(
      `strata speed: ${fmt(rps)} records/s acknowledged durable (${((rps * bytesPerRecord) / 1e6).toFixed(1)} MB/s), ${fmt(result.requests / result.seconds)} requests/s, ` +
        `latency p50 ${result.p50Ms.toFixed(1)} ms p99 ${result.p99Ms.toFixed(1)} ms, ${result.errors} errors`,
    );
    say(
      `  ${fmt(commits)} group commits (${fmt(stats.records / commits)} records, ${((commitSum / commits) * 1000).toFixed(1)} ms each on average), ${stats.segments} segments; footers count ${fmt(stats.records)} = records acknowledged`,
    );
    say(
      `baseline append+fsync per batch: ${fmt(baseRps)} records/s (${(base.records / perBody / base.seconds).toFixed(0)} fsyncs/s)`,
    );
    say(
      `ratio strata/baseline ${(rps / baseRps).toFixed(3)}x; vs the issue's 200K msg/s Kafka pipeline: ${(rps / 200_000).toFixed(2)}x`,
    );
    if (values.profile) {
      const profDir = path.join(dir, 'profile');
      const [file] = await readdir(profDir);
      say(
        `\nstrata speed CPU profile (self time, whole process life):\n${summarizeCpuProfile(await readFile(path.join(profDir, file!), 'utf8'), 30)}`,
      );
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
