// The compiled CLI: Strata ships TypeScript, and running it through tsx costs every process a
// loader thread and its transforms (~35 MiB and a slower start, per process and per worker
// thread). So `strata` runs a bundle esbuild makes from the sources, once per change of them:
// dist/<fingerprint>/ holds main.js (the CLI) and the thread pools' entries, with source maps
// that debug logging turns on, so stack traces name the .ts files.
//
// The fingerprint covers every source file's path, size and mtime plus package-lock.json: an
// edited file means a new build on the next start (~1 s), never a stale one. Processes starting
// together may each build; each writes its own folder and renames it into place, so none sees a
// half-written build. A package folder nobody may write to (a read-only install) runs from
// source instead, as does STRATA_RUN_FROM_SOURCE=1.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// Everything the CLI imports (the demo imports the example generator).
const SOURCE_DIRS = ['cli', 'core', 'coordinator', 'examples', 'jobs', 'proto', 'serving', 'speed', 'worker'];
const ENTRIES = {
  main: 'cli/main.ts',
  'task-handlers': 'worker/threads/task-handlers.ts',
  'parse-handlers': 'speed/parse-handlers.ts',
};
// Left to Node's own resolution: packages that find files beside themselves at run time (BullMQ's
// Lua scripts, piscina's and esbuild's own workers and binaries, grpc's proto loading), native
// addons, and tsx (user modules still run through it).
const EXTERNAL = ['esbuild', 'tsx', 'piscina', 'bullmq', '@grpc/*', 'protobufjs', 'msgpackr-extract', '@duckdb/*', 'vitest', 's3rver', 'fast-check'];
// Bumped when the build options change, so an old build is not taken for a new one.
const BUILD_FORMAT = 1;
// Builds older than this (and not the current one) are removed by the next build: a process
// started from one may still import a lazily loaded chunk of it.
const KEEP_OLD_BUILDS_MS = 24 * 3600 * 1000;

function fingerprint() {
  const hash = createHash('sha256').update(`format ${BUILD_FORMAT}\n`);
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(ts|mjs)$/.test(entry.name)) {
        const s = statSync(file);
        hash.update(`${path.relative(ROOT, file)} ${s.size} ${s.mtimeMs}\n`);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir));
  const lock = path.join(ROOT, 'package-lock.json');
  if (existsSync(lock)) hash.update(`lock ${statSync(lock).mtimeMs}\n`);
  return hash.digest('hex').slice(0, 16);
}

async function build(outdir) {
  const { build: esbuild } = await import('esbuild');
  await esbuild({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    entryNames: '[name]',
    // Flat, beside the entries: core/package-root.ts finds the thread entries next to its chunk.
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    external: EXTERNAL,
    // Bundled CommonJS packages call require() and read __dirname/__filename.
    banner: {
      js: [
        "import { createRequire as __strataRequire } from 'node:module';",
        "import { fileURLToPath as __strataPath } from 'node:url';",
        'const require = __strataRequire(import.meta.url);',
        'const __filename = __strataPath(import.meta.url);',
        "const __dirname = __strataPath(new URL('.', import.meta.url));",
      ].join(' '),
    },
    logLevel: 'silent',
  });
}

/** esbuild's failure, with each message's file and line, and the way around it. */
function buildError(err) {
  if (!Array.isArray(err?.errors)) return err;
  const where = (m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '');
  const lines = err.errors.slice(0, 5).map((m) => `  ${where(m)}${m.text}`);
  return new Error(`strata: building the CLI from its sources (into ${path.join(ROOT, 'dist')}) failed:\n${lines.join('\n')}\nFix the source, or run it through tsx with STRATA_RUN_FROM_SOURCE=1.`);
}

function removeOldBuilds(distDir, keep) {
  const now = Date.now();
  for (const name of readdirSync(distDir)) {
    if (name === keep) continue;
    const dir = path.join(distDir, name);
    try {
      const old = now - statSync(dir).mtimeMs > KEEP_OLD_BUILDS_MS;
      const abandoned = name.startsWith('.tmp-') && now - statSync(dir).mtimeMs > 600_000;
      if (old || abandoned) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/**
 * The folder of the compiled CLI for the sources as they are now, built if missing; undefined
 * when the CLI should run from source (asked for, or the package folder is not writable).
 */
export async function compiledDir() {
  if (process.env.STRATA_RUN_FROM_SOURCE === '1') return undefined;
  const distDir = path.join(ROOT, 'dist');
  const dir = path.join(distDir, fingerprint());
  if (existsSync(path.join(dir, 'main.js'))) return dir;
  const tmp = path.join(distDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(tmp, { recursive: true });
  } catch (err) {
    if (err.code === 'EACCES' || err.code === 'EROFS' || err.code === 'EPERM') return undefined;
    throw err;
  }
  try {
    await build(tmp);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process renamed the same build into place first: use theirs.
    if (!existsSync(path.join(dir, 'main.js'))) throw buildError(err);
  }
  removeOldBuilds(distDir, path.basename(dir));
  return dir;
}

/** The CLI's main(), compiled when possible. */
export async function loadMain() {
  const dir = await compiledDir();
  if (dir) {
    // Source maps cost ~15 MiB per process once enabled (Node parses each chunk's map as it
    // loads): only where stack traces are printed, as core/config.ts wantsStackTraces() decides.
    if (process.env.STRATA_LOG_LEVEL === 'debug' || process.env.STRATA_LOG_LEVEL === 'trace') process.setSourceMapsEnabled(true);
    return (await import(pathToFileURL(path.join(dir, 'main.js')).href)).main;
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('./main.ts')).main;
}
