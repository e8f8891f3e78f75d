/**
 * The one validated, frozen configuration object of a Strata process.
 *
 *   const config = loadConfig({ store: 'file:///tmp/s' });   // flags win over env, env over defaults
 *   config.store  // 'file:///tmp/s'
 *
 * Every option is declared once in OPTIONS below: its environment variable, default, unit and a
 * line of doc. This is the only module that reads process.env. All problems are reported at once
 * in one STRATA_E_CONFIG error, each naming the variable and what it accepts.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { StrataError } from './errors.ts';

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
const bytes = z.coerce.number().int().positive();

/**
 * name → { env, default, doc, schema }. Defaults that depend on the cwd are resolved in loadConfig.
 */
export const OPTIONS = {
  home: {
    env: 'STRATA_HOME',
    default: '.strata',
    doc: 'Folder for local state (the embedded store, cluster.json); relative to the current folder.',
    schema: z.string().min(1),
  },
  store: {
    env: 'STRATA_STORE',
    default: '',
    doc: 'Store URL: file:///abs/dir or s3://bucket/prefix?endpoint=http://host:port. Empty means file://<home>/store.',
    schema: z.string(),
  },
  s3AccessKey: {
    env: 'STRATA_S3_ACCESS_KEY',
    default: '',
    doc: 'S3 access key (also read from AWS_ACCESS_KEY_ID).',
    schema: z.string(),
  },
  s3SecretKey: {
    env: 'STRATA_S3_SECRET_KEY',
    default: '',
    doc: 'S3 secret key (also read from AWS_SECRET_ACCESS_KEY).',
    schema: z.string(),
  },
  runFromSource: {
    env: 'STRATA_RUN_FROM_SOURCE',
    default: '0',
    doc: '1: the CLI runs its TypeScript sources through tsx instead of the bundle it builds from them under dist/ (cli/compiled-cli.mjs reads this before any configuration loads).',
    schema: z.enum(['0', '1']),
  },
  logLevel: {
    env: 'STRATA_LOG_LEVEL',
    default: 'warn',
    doc: 'pino log level for this process (logs are JSON on stderr).',
    schema: logLevel,
  },
  segmentTargetBytes: {
    env: 'STRATA_SEGMENT_TARGET_BYTES',
    default: String(128 * 1024 * 1024),
    doc: 'Bytes: a segment being written is closed once it reaches this size.',
    schema: bytes,
  },
  blockTargetBytes: {
    env: 'STRATA_BLOCK_TARGET_BYTES',
    default: String(256 * 1024),
    doc: 'Bytes: a segment block is closed once its encoded records reach this size.',
    schema: bytes,
  },
  viewBlockTargetBytes: {
    env: 'STRATA_VIEW_BLOCK_TARGET_BYTES',
    default: String(16 * 1024),
    doc: 'Bytes: a view file data block is closed once it reaches this size (one block is read per lookup).',
    schema: bytes,
  },
  redisUrl: {
    env: 'STRATA_REDIS_URL',
    default: '',
    doc: 'Redis URL of the cluster (redis://127.0.0.1:6379). Empty means: read .strata/cluster.json written by strata dev.',
    schema: z.string(),
  },
  redisPrefix: {
    env: 'STRATA_REDIS_PREFIX',
    default: 'strata',
    doc: 'Prefix of every Redis key and BullMQ queue of this cluster (several clusters can share one Redis).',
    schema: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  },
  token: {
    env: 'STRATA_TOKEN',
    default: '',
    doc: 'Bearer token for the coordinator API, the shuffle service and ingest. Empty means: read .strata/cluster.json.',
    schema: z.string(),
  },
  coordinatorUrl: {
    env: 'STRATA_COORDINATOR_URL',
    default: '',
    doc: 'URL of the coordinator API for the CLI. Empty means: read .strata/cluster.json.',
    schema: z.string(),
  },
  coordinatorHost: {
    env: 'STRATA_COORDINATOR_HOST',
    default: '127.0.0.1',
    doc: 'Address the coordinator API binds to.',
    schema: z.string().min(1),
  },
  coordinatorPort: {
    env: 'STRATA_COORDINATOR_PORT',
    default: '7070',
    doc: 'Port of the coordinator API (0 picks a free one).',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  workerThreads: {
    env: 'STRATA_WORKER_THREADS',
    default: '0',
    doc: 'Threads per worker process running tasks; 0 means one per core.',
    schema: z.coerce.number().int().min(0).max(256),
  },
  workDir: {
    env: 'STRATA_WORK_DIR',
    default: '',
    doc: 'Local folder for spills and map outputs of a worker. Empty means <home>/work/<worker id>.',
    schema: z.string(),
  },
  shuffleHost: {
    env: 'STRATA_SHUFFLE_HOST',
    default: '127.0.0.1',
    doc: 'Address the worker shuffle gRPC server binds to (0.0.0.0 for other machines, with STRATA_SHUFFLE_ADVERTISE_HOST).',
    schema: z.string().min(1),
  },
  shuffleAdvertiseHost: {
    env: 'STRATA_SHUFFLE_ADVERTISE_HOST',
    default: '',
    doc: "Host name or address other workers use to reach this worker's shuffle server. Empty means STRATA_SHUFFLE_HOST.",
    schema: z.string(),
  },
  shufflePort: {
    env: 'STRATA_SHUFFLE_PORT',
    default: '0',
    doc: 'Port of the worker shuffle server (0 picks a free one).',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  memoryBudgetBytes: {
    env: 'STRATA_MEMORY_BUDGET_BYTES',
    default: String(128 * 1024 * 1024),
    doc: 'Bytes: a map task spills its sorted buffer to disk once it holds this much.',
    schema: bytes,
  },
  splitTargetBytes: {
    env: 'STRATA_SPLIT_TARGET_BYTES',
    default: String(64 * 1024 * 1024),
    doc: 'Bytes: the coordinator cuts input splits of about this size on block boundaries.',
    schema: bytes,
  },
  heartbeatMs: {
    env: 'STRATA_HEARTBEAT_MS',
    default: '2000',
    doc: 'Milliseconds between worker heartbeats; a worker is presumed dead after 3 missed beats.',
    schema: z.coerce.number().int().positive(),
  },
  lockDurationMs: {
    env: 'STRATA_LOCK_DURATION_MS',
    default: '5000',
    doc: "Milliseconds a running task's lock lasts before it must be renewed (BullMQ lockDuration); a dead worker's task is retried after about this.",
    schema: z.coerce.number().int().positive(),
  },
  taskAttempts: {
    env: 'STRATA_TASK_ATTEMPTS',
    default: '4',
    doc: 'Attempts per task before the job fails (retryable failures and lost workers).',
    schema: z.coerce.number().int().min(1).max(100),
  },
  speculationMultiplier: {
    env: 'STRATA_SPECULATION_MULTIPLIER',
    default: '3',
    doc: 'A running task this many times slower than the median of its finished peers (same job, same kind) gets a speculative second attempt on another worker; the first to finish wins. 0 turns speculation off.',
    schema: z.coerce.number().min(0).max(1000),
  },
  speculationMinMs: {
    env: 'STRATA_SPECULATION_MIN_MS',
    default: '10000',
    doc: 'Milliseconds a task must have run before it may get a speculative attempt, however fast its peers were.',
    schema: z.coerce.number().int().min(0),
  },
  speculationQuantile: {
    env: 'STRATA_SPECULATION_QUANTILE',
    default: '0.75',
    doc: "Fraction (0–1) of a phase's tasks that must have finished before its stragglers are speculated on.",
    schema: z.coerce.number().min(0).max(1),
  },
  servePort: {
    env: 'STRATA_SERVE_PORT',
    default: '7080',
    doc: 'Port of the view server (strata serve; 0 picks a free one).',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  serveHost: {
    env: 'STRATA_SERVE_HOST',
    default: '127.0.0.1',
    doc: 'Address the view server binds to.',
    schema: z.string().min(1),
  },
  serveCacheDir: {
    env: 'STRATA_SERVE_CACHE_DIR',
    default: '',
    doc: 'Local folder where the view server keeps copies of the part files it serves. Empty means <home>/serve-cache.',
    schema: z.string(),
  },
  serveBlockCacheBytes: {
    env: 'STRATA_SERVE_BLOCK_CACHE_BYTES',
    default: String(4 * 1024 * 1024),
    doc: "Bytes: the view server's cache of hot view file blocks, across all views (0 = none); a block gets in on its second read. Blocks are read from local copies, so the OS page cache (not counted in the process's memory) is the main cache, and this one saves only a read call per hit.",
    schema: z.coerce.number().int().min(0),
  },
  viewVersionsKept: {
    env: 'STRATA_VIEW_VERSIONS_KEPT',
    default: '3',
    doc: 'Versions: after each publish, the committed versions of the view older than the current one are deleted from the store but for the newest this many (rollback targets). The current version and any newer one are always kept, so 3 keeps at least 4.',
    schema: z.coerce.number().int().min(0),
  },
  servePollMs: {
    env: 'STRATA_SERVE_POLL_MS',
    default: '2000',
    doc: "Milliseconds between the view server's checks of views/<view>/_CURRENT (the fallback when no Redis announcement arrives).",
    schema: z.coerce.number().int().positive(),
  },
  serveUrl: {
    env: 'STRATA_SERVE_URL',
    default: '',
    doc: 'URL of a view server that strata get and strata scan ask first (they read the store when it does not answer). Empty means: .strata/cluster.json, else the store.',
    schema: z.string(),
  },
  speedHost: {
    env: 'STRATA_SPEED_HOST',
    default: '127.0.0.1',
    doc: 'Address the speed layer ingest API (strata speed) binds to.',
    schema: z.string().min(1),
  },
  speedPort: {
    env: 'STRATA_SPEED_PORT',
    default: '7090',
    doc: 'Port of the speed layer ingest API (strata speed; 0 picks a free one).',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  speedUrl: {
    env: 'STRATA_SPEED_URL',
    default: '',
    doc: 'URL of the speed layer ingest API for strata ingest --follow. Empty means: read .strata/cluster.json.',
    schema: z.string(),
  },
  speedBodyLimitBytes: {
    env: 'STRATA_SPEED_BODY_LIMIT_BYTES',
    default: String(16 * 1024 * 1024),
    doc: 'Bytes: the largest ingest request body the speed layer accepts (larger ones get 413).',
    schema: bytes,
  },
  speedLingerMs: {
    env: 'STRATA_SPEED_LINGER_MS',
    default: '2',
    doc: 'Milliseconds an idle speed layer waits for more requests before it commits a group (more waiting, fewer and larger segments).',
    schema: z.coerce.number().min(0).max(10_000),
  },
  speedMaxCommitRecords: {
    env: 'STRATA_SPEED_MAX_COMMIT_RECORDS',
    default: '50000',
    doc: 'Records: a speed group commit takes at most this many (a single larger request is committed alone, never split).',
    schema: z.coerce.number().int().positive(),
  },
  speedBucketMs: {
    env: 'STRATA_SPEED_BUCKET_MS',
    default: '60000',
    doc: 'Milliseconds of Redis clock per realtime bucket: the granularity at which the batch layer takes over from the speed layer.',
    schema: z.coerce.number().int().positive(),
  },
  speedParseThreads: {
    env: 'STRATA_SPEED_PARSE_THREADS',
    default: '-1',
    doc: 'Threads of the speed layer that parse and validate large request bodies beside the group commit; -1 means one fewer than the cores, 0 parses on the main thread.',
    schema: z.coerce.number().int().min(-1).max(64),
  },
} as const;

export type OptionName = keyof typeof OPTIONS;
export type StrataConfig = Readonly<
  { [K in OptionName]: z.infer<(typeof OPTIONS)[K]['schema']> } & { cwd: string }
>;

export interface LoadConfigOptions {
  /** Values from command-line flags; they win over the environment. `undefined` means not given. */
  overrides?: Partial<Record<OptionName, string | number | undefined>>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function loadConfig(opts: LoadConfigOptions = {}): StrataConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const fallbackEnv: Partial<Record<OptionName, string | undefined>> = {
    s3AccessKey: env.AWS_ACCESS_KEY_ID,
    s3SecretKey: env.AWS_SECRET_ACCESS_KEY,
  };
  const problems: string[] = [];
  const out: Record<string, unknown> = { cwd };
  for (const [name, opt] of Object.entries(OPTIONS) as [
    OptionName,
    (typeof OPTIONS)[OptionName],
  ][]) {
    const override = opts.overrides?.[name];
    const raw =
      override !== undefined
        ? String(override)
        : (env[opt.env] ?? fallbackEnv[name] ?? opt.default);
    const parsed = opt.schema.safeParse(raw);
    if (!parsed.success) {
      const source =
        override !== undefined
          ? `flag for ${name}`
          : env[opt.env] !== undefined
            ? opt.env
            : `default of ${name}`;
      problems.push(
        `${source}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')} (${opt.doc})`,
      );
      continue;
    }
    out[name] = parsed.data;
  }
  if (problems.length > 0) {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `invalid configuration:\n  - ${problems.join('\n  - ')}`,
      { details: { problems } },
    );
  }
  const home = path.resolve(cwd, out.home as string);
  out.home = home;
  if (!out.store) out.store = pathToFileURL(path.join(home, 'store')).href;
  return Object.freeze(out) as StrataConfig;
}

/** A markdown table of every option, for `strata config --help` and the README. */
export function describeOptions(): string {
  const rows = Object.entries(OPTIONS).map(
    ([name, o]) =>
      `| ${o.env} | ${name} | ${o.default === '' ? '(derived)' : o.default} | ${o.doc} |`,
  );
  return ['| variable | option | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * Whether to print stack traces with errors; read directly because it must work even when the rest
 * of the config is invalid.
 */
export function wantsStackTraces(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.STRATA_LOG_LEVEL === 'debug' || env.STRATA_LOG_LEVEL === 'trace';
}
