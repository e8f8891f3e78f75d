/**
 * Turns a user's module (a job file, or a module of plain-task functions) into one
 * content-addressed
 * ESM bundle, checks it, and uploads it to `code/<sha256>.mjs`, where workers import it from.
 *
 *   const { bundle, spec } = await bundleJob('jobs/top-pages.ts');   // compiles, imports, checks
 *   await uploadBundle(store, bundle);                                // create-only; same code, same key
 *   spec.view  // 'top-pages'
 *
 * The module may live anywhere on disk: `import … from 'strata'` resolves to this checkout's
 * jobs/index.ts, whatever the user's folder has installed. Everything else it imports is bundled
 * too (node: builtins stay external), so the bundle runs in a worker with nothing around it. The
 * source map is inline, so a worker's stack traces point at the user's own lines.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Message, type Plugin } from 'esbuild';
import { isStrataError, StrataError, type StrataErrorJSON } from '../core/errors.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { isJobDefinition } from '../jobs/define-job.ts';
import type { JobDefinition, StaticJobSpec } from '../jobs/types.ts';
import { packagePath } from '../core/package-root.ts';

export interface ModuleBundle {
  /** The module bundled, as an absolute path. */
  entry: string;
  code: Uint8Array;
  /** sha256 of `code`, hex: the bundle's name in the store. */
  sha256: string;
  /** The entry module's export names ('default' for a default export). */
  exports: string[];
}

const STRATA_API = packagePath('jobs/index.ts');
/** What `strata/pool` means inside a bundle: tasks never connect a pool of their own. */
const POOL_IN_TASK = packagePath('cli/pool/pool-in-task.ts');

/**
 * `import … from 'strata'` (and 'strata/pool') resolve to this checkout, not the user's
 * node_modules.
 */
const strataAlias: Plugin = {
  name: 'strata-alias',
  setup(b) {
    b.onResolve({ filter: /^strata(\/pool)?$/ }, (args) => ({
      path: args.path === 'strata' ? STRATA_API : POOL_IN_TASK,
    }));
  },
};

/** The codeHash's store key. */
export const codeKey = (sha256: string): string => `code/${sha256}.mjs`;

/**
 * Bundles a module with esbuild; STRATA_E_BUNDLE with the compiler's messages (file:line:col) when
 * it does not compile.
 */
export async function bundleModule(
  file: string,
  options: { cwd?: string } = {},
): Promise<ModuleBundle> {
  const cwd = options.cwd ?? process.cwd();
  const entry = path.resolve(cwd, file);
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      minify: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: path.dirname(entry),
      outfile: path.join(path.dirname(entry), 'bundle.mjs'),
      // Wherever a worker keeps the bundle, a mapped stack frame names the user's own file.
      sourceRoot: `${pathToFileURL(path.dirname(entry)).href}/`,
      plugins: [strataAlias],
      // Bundled CommonJS packages may call require() for builtins; ESM has none, so give them one.
      banner: {
        js: "import { createRequire as __strataCreateRequire } from 'node:module'; const require = __strataCreateRequire(import.meta.url);",
      },
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (!errors)
      throw new StrataError(
        'STRATA_E_BUNDLE',
        `could not bundle ${file}: ${(err as Error).message}`,
        { cause: err, details: { file: entry } },
      );
    const shown = (f: string) => {
      const abs = path.resolve(path.dirname(entry), f);
      const rel = path.relative(cwd, abs);
      return rel.startsWith('..') ? abs : rel;
    };
    const where = (m: Message) =>
      m.location ? `${shown(m.location.file)}:${m.location.line}:${m.location.column + 1}: ` : '';
    const text = errors
      .map((m) => {
        const snippet = m.location
          ? `\n    ${m.location.lineText}\n    ${' '.repeat(m.location.column)}^`
          : '';
        return `${where(m)}${m.text}${snippet}${m.notes.map((n) => `\n  note: ${n.text}`).join('')}`;
      })
      .join('\n');
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `${file} does not compile (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${text}`,
      {
        details: {
          file: entry,
          errors: errors.map((e) => ({
            text: e.text,
            file: e.location?.file,
            line: e.location?.line,
            column: e.location ? e.location.column + 1 : undefined,
          })),
        },
      },
    );
  }
  const out = result.outputFiles[0]!;
  const code = out.contents;
  const meta = Object.values(result.metafile.outputs)[0];
  return {
    entry,
    code,
    sha256: createHash('sha256').update(code).digest('hex'),
    exports: meta?.exports ?? [],
  };
}

/**
 * Imports a bundle in this process (from a temporary file named by its hash) and returns its
 * exports.
 */
export async function importBundle(bundle: ModuleBundle): Promise<Record<string, unknown>> {
  // A folder of our own per call: concurrent submits of the same file must not remove each
  // other's copy, and a shared, predictable path in /tmp is no place to import code from.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bundle-'));
  const file = path.join(dir, `${bundle.sha256}.mjs`);
  await writeFile(file, bundle.code);
  process.setSourceMapsEnabled(true); // errors thrown while the module loads point at the user's lines
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    // defineJob's own STRATA_E_JOB_DEFINITION already teaches. It comes from the bundle's copy of
    // core/errors.ts (another class), so it is recognised by shape and revived as ours.
    if (isStrataError(err)) throw err;
    if (
      err instanceof Error &&
      err.name === 'StrataError' &&
      typeof (err as { toJSON?: unknown }).toJSON === 'function'
    ) {
      throw StrataError.fromJSON((err as unknown as { toJSON(): StrataErrorJSON }).toJSON());
    }
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `${path.relative(process.cwd(), bundle.entry) || bundle.entry} threw while loading: ${(err as Error)?.message ?? String(err)}`,
      {
        cause: err,
        details: { file: bundle.entry },
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true }); // imported modules stay cached; the file is not needed again
  }
}

/** Bundles a job file, loads it, and checks that its default export is a defineJob() definition. */
export async function bundleJob(
  file: string,
  options: { cwd?: string } = {},
): Promise<{ bundle: ModuleBundle; job: JobDefinition; spec: StaticJobSpec }> {
  const bundle = await bundleModule(file, options);
  const exports = await importBundle(bundle);
  const job = exports.default;
  // isJobDefinition is duck-typed, so it recognises the bundle's own copy of defineJob's output.
  if (!isJobDefinition(job)) {
    const what =
      job === undefined
        ? 'has no default export'
        : `exports ${describe(job)} as its default, not a job`;
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `${file} ${what}; a job file ends with \`export default defineJob({ name, input, map, aggregate })\` (import { defineJob } from 'strata')`,
      {
        details: { file: bundle.entry, exports: bundle.exports },
      },
    );
  }
  return { bundle, job, spec: job.staticSpec() };
}

/** Puts the bundle at code/<sha256>.mjs unless it is there already (same hash, same bytes). */
export async function uploadBundle(
  store: ObjectStore,
  bundle: ModuleBundle,
): Promise<{ key: string; uploaded: boolean }> {
  const key = codeKey(bundle.sha256);
  if (await store.stat(key)) return { key, uploaded: false };
  try {
    await store.put(key, bundle.code);
    return { key, uploaded: true };
  } catch (err) {
    if (isStrataError(err, 'STRATA_E_STORE_EXISTS')) return { key, uploaded: false }; // a concurrent submit of the same code
    throw err;
  }
}

function describe(x: unknown): string {
  if (typeof x === 'function') return `a function${x.name ? ` (${x.name})` : ''}`;
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}
