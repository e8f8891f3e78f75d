// The compiled CLI: Strata ships TypeScript, and running it through tsx costs every process a
// loader thread and its transforms (~35 MiB and a slower start, per process and per worker
// thread). So `strata` runs a bundle esbuild makes from the sources, once per change of them:
// dist/<fingerprint>/ holds main.js (the CLI) and the thread pools' entries.
//
// The fingerprint hashes the content of every source file (and tsconfig.json, package-lock.json):
// an edited file means a new build on the next start (~1 s), never a stale one, whatever the
// file system's clock. Processes starting together may each build; each writes its own folder
// and renames it into place, so none sees a half-written build. Every process notes its pid in
// the build it runs (dist/<fingerprint>/.pids/): a build is removed only when it is not among the
// newest few and no live process runs from it, since a running service still loads chunks of it
// later (a lazily imported command, a thread pool replacing a thread). A package folder nobody
// may write to (a read-only install) runs from source instead, as does STRATA_RUN_FROM_SOURCE=1.
//
// Source maps are written beside the chunks (.js.map) but not linked from them: Node parses a
// linked map of every chunk it loads once maps are on (~15 MiB a process), and workers run with
// --enable-source-maps for the users' job bundles. Stack traces from Strata's own code name the
// chunk; STRATA_RUN_FROM_SOURCE=1 gives .ts lines.
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// Everything the CLI imports (the demo imports the example generator).
const SOURCE_DIRS = [
  'cli',
  'core',
  'coordinator',
  'examples',
  'jobs',
  'proto',
  'serving',
  'speed',
  'worker',
];
const SOURCE_FILES = ['tsconfig.json', 'package-lock.json'];
const ENTRIES = {
  main: 'cli/main.ts',
  'task-handlers': 'worker/threads/task-handlers.ts',
  'parse-handlers': 'speed/parse-handlers.ts',
};
// Left to Node's own resolution: packages that find files beside themselves at run time (BullMQ's
// Lua scripts, piscina's and esbuild's own workers and binaries, grpc's proto loading, pino's
// transport threads), native addons, ioredis (BullMQ loads it too: one copy, not two), and tsx.
const EXTERNAL = [
  'esbuild',
  'tsx',
  'piscina',
  'bullmq',
  'ioredis',
  '@grpc/*',
  'protobufjs',
  'pino',
  'thread-stream',
  'msgpackr-extract',
  '@duckdb/*',
  'vitest',
  's3rver',
  'fast-check',
];
// Bumped when the build options change, so an old build is not taken for a new one.
const BUILD_FORMAT = 2;
// Builds kept however old, newest first; older ones go once no live process runs from them.
const KEEP_BUILDS = 3;
// A build younger than this is never removed: a process may have picked it and not yet noted its
// pid.
const MIN_AGE_MS = 10 * 60 * 1000;

function fingerprint() {
  const hash = createHash('sha256').update(`format ${BUILD_FORMAT}\n`);
  const add = (file) =>
    hash
      .update(`${path.relative(ROOT, file)}\n`)
      .update(readFileSync(file))
      .update('\n');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(ts|mjs|lua|proto)$/.test(entry.name)) add(file);
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir));
  for (const name of SOURCE_FILES)
    if (existsSync(path.join(ROOT, name))) add(path.join(ROOT, name));
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
    sourcemap: 'external',
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
  const where = (m) =>
    m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '';
  const lines = err.errors.slice(0, 5).map((m) => `  ${where(m)}${m.text}`);
  return new Error(
    `strata: building the CLI from its sources (into ${path.join(ROOT, 'dist')}) failed:\n${lines.join('\n')}\nFix the source, or run it through tsx with STRATA_RUN_FROM_SOURCE=1.`,
  );
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM'; // alive, someone else's
  }
}

/** Notes this process in the build it runs, and forgets the pids of processes gone. */
function noteRunning(dir) {
  const pids = path.join(dir, '.pids');
  try {
    mkdirSync(pids, { recursive: true });
    for (const name of readdirSync(pids))
      if (!isAlive(Number(name))) rmSync(path.join(pids, name), { force: true });
    writeFileSync(path.join(pids, String(process.pid)), '');
  } catch {
    // Best effort: without it the build is only kept while among the newest.
  }
}

function inUse(dir) {
  try {
    return readdirSync(path.join(dir, '.pids')).some((name) => isAlive(Number(name)));
  } catch {
    return false;
  }
}

function removeOldBuilds(distDir, current) {
  const now = Date.now();
  const builds = [];
  for (const name of readdirSync(distDir)) {
    try {
      const mtime = statSync(path.join(distDir, name)).mtimeMs;
      if (name.startsWith('.tmp-')) {
        if (now - mtime > MIN_AGE_MS)
          rmSync(path.join(distDir, name), { recursive: true, force: true }); // a build that died half-way
      } else if (name !== current) builds.push({ name, mtime });
    } catch {
      // Another process removed it first.
    }
  }
  builds.sort((a, b) => b.mtime - a.mtime);
  for (const { name, mtime } of builds.slice(KEEP_BUILDS - 1)) {
    const dir = path.join(distDir, name);
    if (now - mtime > MIN_AGE_MS && !inUse(dir)) rmSync(dir, { recursive: true, force: true });
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
    noteRunning(dir);
    return (await import(pathToFileURL(path.join(dir, 'main.js')).href)).main;
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('./main.ts')).main;
}
