/**
 * Starts a private `redis-server` child on loopback, for `strata dev` and for tests.
 *
 *   const redis = await startRedisServer({ dir: '/tmp/strata-redis' });
 *   const conn = await connectRedis(redis.url, { role: 'command' });   // redis://127.0.0.1:<port>
 *   await redis.stop();
 *
 * Redis cannot bind port 0, so a free port is found with a throwaway listener; if another
 * process takes it first, redis-server exits with "Address already in use" and we try another.
 * Ready means PING answers and INFO reports our child's pid (never someone else's Redis). No
 * snapshots (`--save ''`); AOF only when asked. Started again with the same `dir` and `port`, it
 * replays its AOF (a crash-restart test). The child dies with this process (child-guard.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError } from '../errors.ts';
import { guardChild } from './child-guard.ts';
import { ensureRedisServer } from './ensure-redis-server.ts';
import { probeRedis } from './redis-probe.ts';

export interface StartRedisServerOptions {
  /** Working folder for redis-server (AOF files when appendonly). Created if missing. */
  dir: string;
  /** A fixed port; default: a free one. With a fixed port a clash is an error, not a retry. */
  port?: number;
  /** Turn on the append-only file for durability tests. Default false. */
  appendonly?: boolean;
  /**
   * With appendonly: when the AOF is fsynced ('always': before each write is acknowledged). Default
   * 'everysec'.
   */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** The redis-server program; default: ensureRedisServer(). */
  bin?: string;
  /** Milliseconds to wait for PING. Default 10 000. */
  startTimeoutMs?: number;
}

export interface RedisServer {
  url: string;
  port: number;
  pid: number;
  /** The watchdog that kills redis-server if this process is SIGKILLed; gone after stop(). */
  watchdogPid: number | undefined;
  /** Resolves when redis-server exits, whoever stopped it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 000). Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

const HOST = '127.0.0.1';
const MAX_PORT_ATTEMPTS = 5;

export async function startRedisServer(opts: StartRedisServerOptions): Promise<RedisServer> {
  const bin = opts.bin ?? (await ensureRedisServer());
  await mkdir(opts.dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const started = await tryStart(bin, port, opts);
    if (started.ok) return started.server;
    if (!(started.portTaken && opts.port === undefined && attempt < MAX_PORT_ATTEMPTS))
      throw started.error;
  }
}

type StartAttempt =
  { ok: true; server: RedisServer } | { ok: false; portTaken: boolean; error: StrataError };

async function tryStart(
  bin: string,
  port: number,
  opts: StartRedisServerOptions,
): Promise<StartAttempt> {
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    opts.appendfsync ?? 'everysec',
    '--dir',
    opts.dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = tailOf(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: -1, signal: null }));
  });
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const guard = guardChild(child);
  const fail = async (reason: string): Promise<StartAttempt> => {
    await stopChild(child, exited, 2000);
    guard.release();
    const lines = log.text();
    const portTaken = /address already in use/i.test(lines) || reason.includes('another process');
    return {
      ok: false,
      portTaken,
      error: new StrataError(
        'STRATA_E_REDIS_START_FAILED',
        `${bin} on port ${port} ${reason}${portTaken ? '; the port is taken: choose another port or leave it unset' : ''}. Its last log lines:\n${lines || '(none)'}`,
        { details: { bin, port, dir: opts.dir, pid: child.pid } },
      ),
    };
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  for (;;) {
    if (spawnError) return fail(`could not be started (${spawnError.message})`);
    if (child.exitCode !== null || child.signalCode !== null)
      return fail(`exited (${child.exitCode ?? child.signalCode}) before answering PING`);
    if (Date.now() > deadline)
      return fail(`did not answer PING within ${opts.startTimeoutMs ?? 10_000} ms`);
    const pong = await probeRedis(HOST, port, ['PING'], 500).catch(() => undefined);
    if (pong === 'PONG') {
      const info = await probeRedis(HOST, port, ['INFO', 'server'], 1000).catch(() => '');
      const pid = /process_id:(\d+)/.exec(info)?.[1];
      if (pid === String(child.pid)) break;
      if (pid !== undefined)
        return fail(`found another process (pid ${pid}) answering on that port`);
    }
    await sleep(10);
  }

  let stopping: Promise<void> | undefined;
  return {
    ok: true,
    server: {
      url: `redis://${HOST}:${port}`,
      port,
      pid: child.pid as number,
      watchdogPid: guard.watchdogPid,
      exited,
      stop: (graceMs = 5000) =>
        (stopping ??= stopChild(child, exited, graceMs).then(() => guard.release())),
    },
  };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(resolve, graceMs, 'timeout')),
  );
  const outcome = await Promise.race([exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Keeps draining the child's output (a full pipe would block redis-server) and the last lines. */
function tailOf(child: ChildProcess): { text: () => string } {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-3000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { text: () => tail.trim().split('\n').slice(-12).join('\n') };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
