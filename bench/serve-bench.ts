/**
 * `npm run bench -- serve [--keys N] [--concurrency 50] [--seconds 10] [--rate 2000] [--rounds 3]
 * [--block-cache-bytes B] [--view-block-bytes B] [--profile] [--no-redis]`:
 * random-key GETs against `strata serve` (a child process over a view of N [url, hour] keys,
 * published to a temporary file store as the coordinator lays it out), beside two baselines
 * measured in the same run:
 *   - a bare node:http server answering the same keys from a Map (same load generator),
 *   - redis-server driven by redis-benchmark (-t get -r N, its own C client).
 * Each HTTP server gets a closed-loop run (`concurrency` connections, each sending on the last
 * answer: the most it can do, where p99 is mostly waiting for a saturated CPU) and `rounds` (3)
 * open-loop runs at a fixed `rate` (requests sent on schedule, latency from the due time: the
 * latency a client sees at a moderate load; --rate 0 skips them), alternating between the
 * servers; the p99 figure is the median of the rounds.
 * Prints requests/s, p50/p99, errors, server CPU per request, the view server's RSS beside the
 * view's data size and beside the RSS of the same server with no view (what the view itself
 * costs), and the ratios (targets: strata/bare rps ≥ 0.5 closed loop, strata p99 ≤ 5 ms at the
 * fixed rate). --block-cache-bytes sets the server's STRATA_SERVE_BLOCK_CACHE_BYTES;
 * --view-block-bytes writes the view with data blocks of that size instead of the default 16 KiB.
 * --profile writes a V8 CPU profile of the view server and prints where its time went.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs, promisify } from 'node:util';
import { COMMAND_NODE_ARGS, STRATA_BIN } from '../cli/cluster/service-process.ts';
import { loadConfig } from '../core/config.ts';
import { connectRedis } from '../core/redis/connect-redis.ts';
import { startRedisServer } from '../core/redis/start-redis-server.ts';
import { openStore } from '../core/store/open-store.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { emptyCounters } from '../core/tasks/task-payload.ts';
import {
  currentKey,
  manifestKey,
  newVersion,
  partKey,
  type ViewManifest,
} from '../core/views/view-layout.ts';
import { encodeViewFile } from '../core/viewfile/view-file-writer.ts';
import type { LoadResult } from './http-load.ts';
import { partEntries, rowPartitions, serveKey, serveKeyPath } from './serve-keys.ts';
import { summarizeCpuProfile } from './serve-profile.ts';

const VIEW = 'bench';
const run$ = promisify(execFile);
const say = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * Publishes the view one part at a time, each streamed through encodeViewFile (memory: one block).
 */
export async function publish(
  store: ObjectStore,
  keys: number,
  partitions: number,
  blockSize?: number,
): Promise<{ bytes: number; version: string }> {
  const version = newVersion(Date.now(), 'bench');
  const partOfRow = rowPartitions(keys, partitions);
  const parts: ViewManifest['parts'] = [];
  let bytes = 0;
  for (let p = 0; p < partitions; p++) {
    let records = 0;
    const counted = (function* () {
      for (const e of partEntries(keys, partOfRow, p)) {
        records++;
        yield e;
      }
    })();
    const info = await store.put(
      partKey(VIEW, version, p),
      encodeViewFile(counted, blockSize === undefined ? {} : { blockSize }),
    );
    parts.push({ partition: p, key: partKey(VIEW, version, p), bytes: info.size, records });
    bytes += info.size;
  }
  const now = Date.now();
  const manifest: ViewManifest = {
    view: VIEW,
    version,
    jobId: 'bench-job',
    job: {
      name: VIEW,
      view: VIEW,
      input: { dataset: 'bench' },
      partitions,
      reduce: 'reduce',
      combine: false,
      params: {},
      codeHash: '0'.repeat(64),
    },
    partitions,
    inputSegments: [],
    inputMinTime: null,
    inputMaxTime: null,
    parts,
    counters: emptyCounters(),
    tasks: [],
    times: { submitted: now, started: now, mapsDone: now, finished: now },
    records: keys,
  };
  await store.put(manifestKey(VIEW, version), new TextEncoder().encode(JSON.stringify(manifest)));
  await store.put(currentKey(VIEW), new TextEncoder().encode(JSON.stringify({ version })), {
    overwrite: true,
  });
  return { bytes, version };
}

interface Server {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/**
 * Spawns a server process and resolves with the URL it prints in its "… listening on <url>" line.
 */
async function startServer(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = /listening on (\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`${args.join(' ')} exited (${code}) before listening`)),
    );
  });
  const stop = async () => {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  return { child, url, stop };
}

interface ProcStats {
  rssBytes: number;
  peakRssBytes: number;
  /**
   * Resident pages of the process's own (anonymous) memory: RSS without the mapped node binary,
   * which every Node process shares.
   */
  anonBytes: number;
  cpuSeconds: number;
}

function procStats(pid: number): ProcStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  // Fields after the command name in /proc/<pid>/stat: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssBytes: kb('VmRSS'),
    peakRssBytes: kb('VmHWM'),
    anonBytes: kb('RssAnon'),
    cpuSeconds: ticks / 100,
  };
}

interface LoadPlan {
  keys: number;
  concurrency: number;
  seconds: number;
  /** Requests/s, open loop; 0 = closed loop. */
  rate: number;
}

async function load(urlPrefix: string, plan: LoadPlan): Promise<LoadResult> {
  const args = [
    '--url',
    urlPrefix,
    '--keys',
    String(plan.keys),
    '--concurrency',
    String(plan.concurrency),
    '--seconds',
    String(plan.seconds),
    '--rate',
    String(plan.rate),
  ];
  const { stdout } = await run$(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'http-load.ts'), ...args],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}

/** Correctness before figures: sampled keys must answer 200 with the value the key scheme gives. */
async function check(urlPrefix: string, keys: number, what: string): Promise<void> {
  for (let n = 0; n < 200; n++) {
    const i = Math.floor(Math.random() * keys);
    const res = await fetch(urlPrefix + serveKeyPath(i));
    const body = (await res.json()) as { key?: unknown; value?: unknown };
    if (
      res.status !== 200 ||
      body.value !== i ||
      JSON.stringify(body.key) !== JSON.stringify(serveKey(i))
    ) {
      throw new Error(
        `${what} answered key ${JSON.stringify(serveKey(i))} with ${res.status} ${JSON.stringify(body).slice(0, 200)}; expected value ${i}`,
      );
    }
  }
}

type Measured = LoadResult & { cpuUsPerRequest: number; after: ProcStats; stealPct: number };

/**
 * CPU time the hypervisor gave to others (the "steal" column of /proc/stat) and all CPU time, in
 * ticks.
 */
function machineTicks(): { steal: number; total: number } {
  const cols = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  return { steal: cols[7] ?? 0, total: cols.reduce((a, b) => a + b, 0) };
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

/** One load run against a server process, with its CPU time and RSS over the run. */
async function measure(server: Server, plan: LoadPlan): Promise<Measured> {
  const pid = server.child.pid!;
  const before = procStats(pid);
  const ticks = machineTicks();
  const result = await load(`${server.url}/v1/views/${VIEW}/get/`, plan);
  const after = procStats(pid);
  const ticksAfter = machineTicks();
  const stealPct =
    (100 * (ticksAfter.steal - ticks.steal)) / Math.max(1, ticksAfter.total - ticks.total);
  const cpuUsPerRequest =
    ((after.cpuSeconds - before.cpuSeconds) * 1e6) / (result.requests + result.warmupRequests);
  return { ...result, cpuUsPerRequest, after, stealPct };
}

function line(name: string, r: Measured): string {
  const mode = r.mode === 'rate' ? `open loop at ${fmt(r.targetRps ?? 0)} req/s` : 'closed loop';
  const lag = `${r.sendLagP99Ms !== undefined ? `, generator send lag p99 ${r.sendLagP99Ms} ms` : ''}, CPU stolen by the hypervisor ${r.stealPct.toFixed(1)}%`;
  return `${name} (${mode}): ${fmt(r.rps)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms, ${r.errors} errors of ${fmt(r.requests)}, server CPU ${r.cpuUsPerRequest.toFixed(0)} µs/req${lag}`;
}

async function redisBaseline(
  dir: string,
  keys: number,
  concurrency: number,
  requests: number,
): Promise<{ rps: number; p50Ms: number; p99Ms: number; rssBytes: number; seconds: number }> {
  const redis = await startRedisServer({ dir: path.join(dir, 'redis') });
  try {
    const conn = await connectRedis(redis.url, { role: 'command', name: 'bench' });
    try {
      // redis-benchmark -r N asks for key:<12-digit i>, i in [0, N): load exactly those.
      for (let start = 0; start < keys; start += 10_000) {
        const pipe = conn.pipeline();
        for (let i = start; i < Math.min(keys, start + 10_000); i++)
          pipe.set(`key:${String(i).padStart(12, '0')}`, String(i));
        await pipe.exec();
      }
    } finally {
      conn.disconnect();
    }
    const rssBytes = procStats(redis.pid).rssBytes;
    const t0 = performance.now();
    const { stdout } = await run$('redis-benchmark', [
      '-h',
      '127.0.0.1',
      '-p',
      String(redis.port),
      '-c',
      String(concurrency),
      '-n',
      String(requests),
      '-r',
      String(keys),
      '-t',
      'get',
      '--csv',
    ]);
    const seconds = (performance.now() - t0) / 1000;
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const row = stdout
      .trim()
      .split('\n')
      .find((l) => l.startsWith('"GET"'));
    if (!row) throw new Error(`redis-benchmark printed no GET row:\n${stdout}`);
    const cols = row.split(',').map((c) => Number(c.replace(/"/g, '')));
    return { rps: cols[1]!, p50Ms: cols[4]!, p99Ms: cols[6]!, rssBytes, seconds };
  } finally {
    await redis.stop();
  }
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      keys: { type: 'string', default: '1000000' },
      concurrency: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '10' },
      partitions: { type: 'string', default: '8' },
      rate: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '3' },
      'redis-requests': { type: 'string', default: '1000000' },
      'no-redis': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'block-cache-bytes': { type: 'string' },
      'view-block-bytes': { type: 'string' },
    },
  });
  const keys = Number(values.keys);
  const concurrency = Number(values.concurrency);
  const seconds = Number(values.seconds);
  const partitions = Number(values.partitions);
  const rate = Number(values.rate);
  const rounds = Number(values.rounds);
  if (!(Number.isInteger(rounds) && rounds >= 1))
    throw new Error(
      `serve bench: --rounds must be a whole number of fixed-rate runs per server, at least 1; got ${values.rounds}`,
    );
  if (!(Number.isFinite(rate) && rate >= 0))
    throw new Error(
      `serve bench: --rate must be requests per second, 0 to skip the fixed-rate runs; got ${values.rate}`,
    );
  const closed: LoadPlan = { keys, concurrency, seconds, rate: 0 };
  const fixed: LoadPlan | undefined = rate > 0 ? { keys, concurrency, seconds, rate } : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-serve-'));
  try {
    const storeUrl = `file://${path.join(dir, 'store')}`;
    const store = await openStore(storeUrl);
    const p0 = performance.now();
    const { bytes } = await publish(
      store,
      keys,
      partitions,
      values['view-block-bytes'] === undefined ? undefined : Number(values['view-block-bytes']),
    );
    await store.close();
    say(
      `view: ${fmt(keys)} [url, hour] keys, integer values, ${partitions} parts, ${mib(bytes)} of view files (published in ${((performance.now() - p0) / 1000).toFixed(1)} s); ${concurrency} keep-alive connections, ${seconds} s per run${fixed ? ` (closed loop, then ${rounds} open-loop rounds at ${fmt(rate)} req/s, alternating with the bare server)` : ''}, ${os.cpus().length} cores`,
    );

    const serveEnv = {
      ...process.env,
      STRATA_HOME: path.join(dir, 'home'),
      STRATA_REDIS_URL: '',
      STRATA_LOG_LEVEL: 'warn',
      ...(values['block-cache-bytes'] !== undefined
        ? { STRATA_SERVE_BLOCK_CACHE_BYTES: values['block-cache-bytes'] }
        : {}),
    };
    // Started as strata dev starts it: the compiled CLI (cli/bin.mjs) with the serve command's Node
    // options.
    const serveArgs = (store: string) => [
      ...COMMAND_NODE_ARGS.serve!,
      STRATA_BIN,
      'serve',
      '--store',
      store,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    ];
    // The same server over an empty store: the memory a view server takes before any view.
    const empty = await startServer(serveArgs(`file://${path.join(dir, 'empty-store')}`), serveEnv);
    const emptyStats = procStats(empty.child.pid!);
    await empty.stop();

    const profDir = path.join(dir, 'profile');
    // Both servers stay up for the whole bench, and the fixed-rate runs alternate between them:
    // on two shared cores the machine's own hiccups (the generator itself sending late by tens of
    // ms) come and go, and alternating spreads them over both instead of one server's runs.
    const serve = await startServer(
      [
        ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
        ...serveArgs(storeUrl),
      ],
      serveEnv,
    );
    const loadedRss = procStats(serve.child.pid!);
    let bare: Server | undefined;
    let strata;
    let node;
    const strataFixed: Measured[] = [];
    const nodeFixed: Measured[] = [];
    try {
      bare = await startServer([
        '--import',
        'tsx',
        path.join(import.meta.dirname, 'serve-bare-server.ts'),
        '--keys',
        String(keys),
      ]);
      await check(`${serve.url}/v1/views/${VIEW}/get/`, keys, 'strata serve');
      await check(`${bare.url}/v1/views/${VIEW}/get/`, keys, 'the bare node server');
      strata = await measure(serve, closed);
      node = await measure(bare, closed);
      for (let r = 0; fixed && r < rounds; r++) {
        strataFixed.push(await measure(serve, fixed));
        nodeFixed.push(await measure(bare, fixed));
      }
    } finally {
      await serve.stop();
      await bare?.stop();
    }
    const after = strataFixed.at(-1)?.after ?? strata.after;

    say(line('strata serve', strata));
    say(line('bare node:http + Map', node));
    for (let r = 0; r < strataFixed.length; r++) {
      say(line(`strata serve, round ${r + 1}`, strataFixed[r]!));
      say(line(`bare node:http + Map, round ${r + 1}`, nodeFixed[r]!));
    }
    const peak = after.peakRssBytes;
    say(
      `strata serve memory: RSS ${mib(loadedRss.rssBytes)} once loaded, ${mib(after.rssBytes)} after the runs (peak ${mib(peak)}) = ${(peak / bytes).toFixed(2)}x the ${mib(bytes)} of view files (target: well under 1x); its own memory (RssAnon: without the node binary's shared pages) ${mib(after.anonBytes)} = ${(after.anonBytes / bytes).toFixed(2)}x; block cache budget ${mib(loadConfig({ env: serveEnv }).serveBlockCacheBytes)}; bare node + Map: RSS ${mib(node.after.rssBytes)}`,
    );
    const added = peak - emptyStats.rssBytes;
    say(
      `strata serve with no view: RSS ${mib(emptyStats.rssBytes)} (own memory ${mib(emptyStats.anonBytes)}); the view adds ${mib(added)} at peak = ${((added / bytes) * 100).toFixed(0)}% of its data size`,
    );
    if (!values['no-redis']) {
      const r = await redisBaseline(dir, keys, concurrency, Number(values['redis-requests']));
      say(
        `redis-server GET (redis-benchmark -c ${concurrency} -r ${keys}, C client): ${fmt(r.rps)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (${r.seconds.toFixed(1)} s); redis RSS ${mib(r.rssBytes)}`,
      );
      say(
        `ratio strata / redis rps = ${(strata.rps / r.rps).toFixed(2)}x (different client: indicative only)`,
      );
    }
    const ratio = strata.rps / node.rps;
    say(
      `ratio strata / bare node rps = ${ratio.toFixed(2)}x closed loop (target ≥ 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'}); CPU per request ${(strata.cpuUsPerRequest / node.cpuUsPerRequest).toFixed(2)}x the bare server's`,
    );
    if (strataFixed.length > 0) {
      // Only runs that kept up with their schedule say anything about latency at that rate.
      const behind = strataFixed.filter((m) => m.rps < 0.95 * rate || m.errors > 0);
      const p99 = median(strataFixed.map((m) => m.p99Ms));
      const bareP99 = median(nodeFixed.map((m) => m.p99Ms));
      const verdict =
        behind.length > 0
          ? `NOT met: ${behind.length} of ${strataFixed.length} runs fell behind ${fmt(rate)} req/s or had errors`
          : p99 <= 5
            ? 'met'
            : 'NOT met';
      say(
        `strata p99 at ${fmt(rate)} req/s, median of ${strataFixed.length} runs = ${p99} ms (target ≤ 5 ms: ${verdict}); bare node ${bareP99} ms = ${(p99 / bareP99).toFixed(2)}x; generator send lag p99, median ${median(strataFixed.map((m) => m.sendLagP99Ms ?? 0))} ms; closed-loop p99 ${strata.p99Ms} ms at ${fmt(strata.rps)} req/s is CPU saturation, not a latency target`,
      );
    }

    if (values.profile) {
      const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile was written to ${profDir}`);
      say(
        `\nview server CPU profile (self time, whole process life incl. load):\n${summarizeCpuProfile(readFileSync(path.join(profDir, file), 'utf8'), 25)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
