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
import { z } from 'zod';
import { StrataError } from './errors.ts';

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
const bytes = z.coerce.number().int().positive();

/** name → { env, default, doc, schema }. Defaults that depend on the cwd are resolved in loadConfig. */
export const OPTIONS = {
  home: { env: 'STRATA_HOME', default: '.strata', doc: 'Folder for local state (the embedded store, cluster.json); relative to the current folder.', schema: z.string().min(1) },
  store: { env: 'STRATA_STORE', default: '', doc: 'Store URL: file:///abs/dir or s3://bucket/prefix?endpoint=http://host:port. Empty means file://<home>/store.', schema: z.string() },
  s3AccessKey: { env: 'STRATA_S3_ACCESS_KEY', default: '', doc: 'S3 access key (also read from AWS_ACCESS_KEY_ID).', schema: z.string() },
  s3SecretKey: { env: 'STRATA_S3_SECRET_KEY', default: '', doc: 'S3 secret key (also read from AWS_SECRET_ACCESS_KEY).', schema: z.string() },
  logLevel: { env: 'STRATA_LOG_LEVEL', default: 'warn', doc: 'pino log level for this process (logs are JSON on stderr).', schema: logLevel },
  segmentTargetBytes: { env: 'STRATA_SEGMENT_TARGET_BYTES', default: String(128 * 1024 * 1024), doc: 'Bytes: a segment being written is closed once it reaches this size.', schema: bytes },
  blockTargetBytes: { env: 'STRATA_BLOCK_TARGET_BYTES', default: String(256 * 1024), doc: 'Bytes: a segment block is closed once its encoded records reach this size.', schema: bytes },
  viewBlockTargetBytes: { env: 'STRATA_VIEW_BLOCK_TARGET_BYTES', default: String(16 * 1024), doc: 'Bytes: a view file data block is closed once it reaches this size (one block is read per lookup).', schema: bytes },
} as const;

export type OptionName = keyof typeof OPTIONS;
export type StrataConfig = Readonly<{ [K in OptionName]: z.infer<(typeof OPTIONS)[K]['schema']> } & { cwd: string }>;

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
  for (const [name, opt] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    const override = opts.overrides?.[name];
    const raw = override !== undefined ? String(override) : (env[opt.env] ?? fallbackEnv[name] ?? opt.default);
    const parsed = opt.schema.safeParse(raw);
    if (!parsed.success) {
      const source = override !== undefined ? `flag for ${name}` : env[opt.env] !== undefined ? opt.env : `default of ${name}`;
      problems.push(`${source}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')} (${opt.doc})`);
      continue;
    }
    out[name] = parsed.data;
  }
  if (problems.length > 0) {
    throw new StrataError('STRATA_E_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  }
  const home = path.resolve(cwd, out.home as string);
  out.home = home;
  if (!out.store) out.store = `file://${path.join(home, 'store')}`;
  return Object.freeze(out) as StrataConfig;
}

/** A markdown table of every option, for `strata config --help` and the README. */
export function describeOptions(): string {
  const rows = Object.entries(OPTIONS).map(([name, o]) => `| ${o.env} | ${name} | ${o.default === '' ? '(derived)' : o.default} | ${o.doc} |`);
  return ['| variable | option | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** Whether to print stack traces with errors; read directly because it must work even when the rest of the config is invalid. */
export function wantsStackTraces(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.STRATA_LOG_LEVEL === 'debug' || env.STRATA_LOG_LEVEL === 'trace';
}
