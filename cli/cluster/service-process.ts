/**
 * One long-running Strata process of a local cluster (`node cli/bin.mjs coordinator|worker`),
 * started as a real child and considered up once it prints its ready line on stdout.
 *
 *   const worker = await startService({ name: 'worker-0', args: ['worker'], env, logFile });
 *   worker.readyLine;             // the line that said it was ready
 *   await worker.stop();          // SIGTERM, then SIGKILL after the grace period
 *
 * Everything the child writes (stdout and its JSON logs on stderr) goes to `logFile` and the
 * last lines are kept, so a child that exits before it is ready fails with its own words.
 * The child dies with this process even on SIGKILL (core/redis/child-guard.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '../../core/errors.ts';
import { guardChild } from '../../core/redis/child-guard.ts';
import { packagePath } from '../../core/package-root.ts';

/** The `strata` entry point, run with this Node. */
export const STRATA_BIN = packagePath('cli/bin.mjs');

/**
 * Node options a command always starts with when Strata launches it (strata dev, the demo, the
 * bench). The view server caps V8's young generation at 4 MiB per semi-space (default 16): it
 * keeps little of what a request allocates, and the cap saves ~20 MiB of RSS per server for a
 * few % of its requests/s (`npm run bench -- serve`). Launching it by hand, pass the same option:
 * `node --max-semi-space-size=4 node_modules/.bin/strata serve`.
 */
export const COMMAND_NODE_ARGS: Readonly<Record<string, readonly string[]>> = {
  serve: ['--max-semi-space-size=4'],
};

export interface ServiceOptions {
  /** Names the process in messages and cluster.json pids: 'coordinator', 'worker-0'. */
  name: string;
  /** Arguments after `node cli/bin.mjs`. */
  args: string[];
  /** The child's whole environment. */
  env: NodeJS.ProcessEnv;
  /** Extra Node options before the script (e.g. --enable-source-maps). */
  nodeArgs?: string[];
  cwd?: string;
  /** Appends the child's output here. Default: none (only the in-memory tail). */
  logFile?: string;
  /** A stdout line that means "up". Default: a line containing the word "ready". */
  isReady?: (line: string) => boolean;
  /** Default 30 000 ms. */
  readyTimeoutMs?: number;
}

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Service {
  name: string;
  pid: number;
  readyLine: string;
  /** Resolves when the child exits, whoever stopped it. */
  exited: Promise<ServiceExit>;
  /** The child's last output lines. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 000). Safe to call twice. */
  stop(graceMs?: number): Promise<ServiceExit>;
}

const TAIL_CHARS = 8000;

export async function startService(opts: ServiceOptions): Promise<Service> {
  let log: WriteStream | undefined;
  if (opts.logFile) {
    await mkdir(path.dirname(opts.logFile), { recursive: true });
    log = createWriteStream(opts.logFile, { flags: 'a' });
  }
  const command = opts.args[0] ?? '';
  const child = spawn(
    process.execPath,
    [...(COMMAND_NODE_ARGS[command] ?? []), ...(opts.nodeArgs ?? []), STRATA_BIN, ...opts.args],
    {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const guard = guardChild(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_CHARS);
    log?.write(chunk);
  };
  child.stderr!.on('data', keep);
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<ServiceExit>((resolve) => {
    child.on('close', (code, signal) => {
      guard.release();
      log?.end();
      resolve({ code, signal });
    });
  });
  const tailText = () => tail.trim().split('\n').slice(-20).join('\n');

  const isReady = opts.isReady ?? ((line: string) => /\bready\b/i.test(line));
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const readyLine = await new Promise<string>((resolve, reject) => {
    let pending = '';
    let done = false;
    const finish = (err: Error | undefined, line?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(line!);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (done) return;
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (isReady(line)) return finish(undefined, line);
      }
    });
    const timer = setTimeout(() => {
      finish(failure(opts, `did not report ready within ${timeoutMs} ms`, tailText()));
      void stopChild(child, exited, 2000);
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      const why = spawnError
        ? `could not be started (${spawnError.message})`
        : `exited (${signal ?? `code ${code}`}) before it was ready`;
      finish(failure(opts, why, tailText()));
    });
  });

  let stopping: Promise<ServiceExit> | undefined;
  return {
    name: opts.name,
    pid: child.pid!,
    readyLine,
    exited,
    tail: tailText,
    stop: (graceMs = 5000) => (stopping ??= stopChild(child, exited, graceMs)),
  };
}

/**
 * Names the child's own error code when it printed one (`strata: … [STRATA_E_REDIS_UNAVAILABLE]`).
 */
function failure(opts: ServiceOptions, why: string, tail: string): StrataError {
  const childCode = [...tail.matchAll(/\[(STRATA_E_[A-Z_]+)\]/g)].pop()?.[1];
  return new StrataError(
    'STRATA_E_SERVICE_START_FAILED',
    `the ${opts.name} process (strata ${opts.args.join(' ')}) ${why}${opts.logFile ? `; full log: ${opts.logFile}` : ''}. Its last output:\n${tail || '(none)'}`,
    {
      details: {
        name: opts.name,
        args: opts.args,
        logFile: opts.logFile,
        ...(childCode ? { childCode } : {}),
      },
    },
  );
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<ServiceExit>,
  graceMs: number,
): Promise<ServiceExit> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(resolve, graceMs, 'timeout')),
    );
    const outcome = await Promise.race([exited.then(() => 'exited' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') child.kill('SIGKILL');
  }
  return exited;
}
