/**
 * Finds the `redis-server` program, installing it first when that is safe to do unasked.
 *
 *   const bin = await ensureRedisServer();   // '/usr/bin/redis-server'
 *
 * Strata starts its own Redis for `strata dev` and for tests, so a fresh Debian machine (a CI
 * container running as root) should need no manual step: there we run
 * `apt-get update && apt-get install -y redis-server` (~10 s) under a lock file, saying so on
 * stderr. Anywhere else we never escalate or touch the system; we throw
 * STRATA_E_DEPENDENCY_MISSING with the exact command to run.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../errors.ts';
import { withInstallLock } from './install-lock.ts';

export interface EnsureRedisServerOptions {
  /**
   * PATH-style list of folders to search. Default: $PATH plus the usual sbin and Homebrew folders.
   */
  searchPath?: string;
  /** Allow the apt-get install when running as root on Debian/Ubuntu. Default true. */
  install?: boolean;
  /** Default: <tmpdir>/strata-redis-install.lock (one per machine, like apt's own lock). */
  lockPath?: string;
}

const EXTRA_DIRS = [
  '/usr/bin',
  '/usr/sbin',
  '/usr/local/bin',
  '/usr/local/sbin',
  '/opt/homebrew/bin',
];

export async function ensureRedisServer(opts: EnsureRedisServerOptions = {}): Promise<string> {
  // PATH belongs to the operating system, not to Strata's configuration, so it is read here.
  const dirs = searchDirs(
    opts.searchPath ?? [process.env.PATH ?? '', ...EXTRA_DIRS].join(path.delimiter),
  );
  const found = await findProgram('redis-server', dirs);
  if (found) return found;

  const aptGet =
    process.platform === 'linux'
      ? await findProgram(
          'apt-get',
          searchDirs(`${process.env.PATH ?? ''}${path.delimiter}/usr/bin`),
        )
      : undefined;
  const isRoot = process.getuid?.() === 0;
  if (opts.install === false || !aptGet || !isRoot) throw missingError(dirs, Boolean(aptGet));

  const lockPath = opts.lockPath ?? path.join(os.tmpdir(), 'strata-redis-install.lock');
  return withInstallLock(
    lockPath,
    async () => {
      const installedMeanwhile = await findProgram('redis-server', dirs);
      if (installedMeanwhile) return installedMeanwhile;
      process.stderr.write(
        'strata: redis-server is not installed; installing it with `apt-get install -y redis-server` (running as root) so Strata can start its own Redis…\n',
      );
      const result = await run(aptGet, dirs);
      const bin = await findProgram('redis-server', dirs);
      if (result.code !== 0 || !bin) {
        throw new StrataError(
          'STRATA_E_DEPENDENCY_MISSING',
          `installing redis-server with apt-get failed (exit ${result.code}); install it yourself with \`apt-get install redis-server\` and retry. apt-get said:\n${result.tail}`,
          { details: { program: 'redis-server', exitCode: result.code } },
        );
      }
      return bin;
    },
    {
      onWait: (pid) =>
        process.stderr.write(
          `strata: waiting for another process (pid ${pid ?? '?'}) that is installing redis-server…\n`,
        ),
    },
  );
}

function missingError(dirs: string[], hasApt: boolean): StrataError {
  const how =
    process.platform === 'darwin'
      ? 'install it with `brew install redis`'
      : hasApt
        ? 'install it with `sudo apt-get install redis-server`'
        : 'install Redis 6.2 or newer with your package manager (the package is usually called redis or redis-server)';
  return new StrataError(
    'STRATA_E_DEPENDENCY_MISSING',
    `redis-server was not found on PATH; ${how}, then retry`,
    {
      details: { program: 'redis-server', searched: dirs },
    },
  );
}

function searchDirs(list: string): string[] {
  return [...new Set(list.split(path.delimiter).filter((d) => d !== ''))];
}

async function findProgram(name: string, dirs: string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function run(aptGet: string, dirs: string[]): Promise<{ code: number; tail: string }> {
  const script = `"${aptGet}" -o DPkg::Lock::Timeout=120 update && "${aptGet}" -o DPkg::Lock::Timeout=120 install -y redis-server`;
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PATH: dirs.join(path.delimiter) },
    });
    let out = '';
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => resolve({ code: -1, tail: err.message }));
    child.on('close', (code) =>
      resolve({ code: code ?? -1, tail: out.trim().split('\n').slice(-15).join('\n') }),
    );
  });
}
