/**
 * The one way Strata opens a Redis connection (ioredis), tuned for what it is used for.
 *
 *   const queue = await connectRedis('redis://127.0.0.1:6379', { role: 'queue', name: 'worker' });
 *   new Worker('tasks', handler, { connection: queue });
 *
 * Roles:
 * - `queue`: handed to BullMQ (Queue, Worker, FlowProducer, QueueEvents). `maxRetriesPerRequest`
 *   is null, as BullMQ requires: blocking commands wait across reconnects.
 * - `command`: Strata's own state reads and writes. A command fails after a few reconnect
 *   attempts (ioredis MaxRetriesPerRequestError) rather than hanging, so the caller can retry.
 * - `subscriber`: pub/sub (version announcements); waits across reconnects, resubscribes.
 *
 * Startup fails fast: if Redis cannot be reached now, this rejects within about
 * `connectTimeoutMs` with STRATA_E_REDIS_UNAVAILABLE naming the URL and how to start Redis,
 * instead of ioredis's default of retrying silently forever. Once connected, a lost connection
 * is retried with a capped backoff, because a Redis restart should not take the cluster down.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';

export type RedisRole = 'queue' | 'command' | 'subscriber';

export interface ConnectRedisOptions {
  role: RedisRole;
  /** Shown in `CLIENT LIST` as strata-<name>-<role>, e.g. 'coordinator'. */
  name?: string;
  /** Milliseconds to wait for the first connection. Default 3 000. */
  connectTimeoutMs?: number;
  log?: Logger;
}

const MAX_BACKOFF_MS = 2000;

export async function connectRedis(url: string, opts: ConnectRedisOptions): Promise<Redis> {
  const shown = redactUrl(url);
  const parsed = parseRedisUrl(url, shown);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
  const options: RedisOptions = {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    connectionName: `strata-${opts.name ? `${opts.name}-` : ''}${opts.role}`,
    maxRetriesPerRequest: opts.role === 'command' ? 3 : null,
    // No reconnect until the first connection is up: an unreachable Redis at startup is an error.
    retryStrategy: () => null,
  };
  const redis = new Redis(url, options);
  let lastError: Error | undefined;
  // Always listening also keeps ioredis from printing "Unhandled error event" on each reconnect.
  const onError = (err: Error) => {
    lastError = err;
    opts.log?.warn({ err, url: shown, role: opts.role }, 'redis connection error');
  };
  redis.on('error', onError);

  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${connectTimeoutMs} ms`)),
          connectTimeoutMs + 500,
        );
      }),
    ]);
  } catch (err) {
    redis.disconnect();
    const reason = describe(lastError ?? err);
    const port = parsed.port || '6379';
    const local =
      parsed.hostname === '127.0.0.1' ||
      parsed.hostname === 'localhost' ||
      parsed.hostname === '::1' ||
      parsed.hostname === '[::1]';
    throw new StrataError(
      'STRATA_E_REDIS_UNAVAILABLE',
      `Redis is not reachable at ${shown} (${reason}). ` +
        (local
          ? `Start one with \`redis-server --port ${port} --bind 127.0.0.1 --save ''\` (or run \`strata dev\`, which starts its own), `
          : 'Check that Redis is running there and reachable from this machine, ') +
        'or correct the configured Redis URL.',
      { details: { url: shown, role: opts.role }, cause: lastError ?? err },
    );
  } finally {
    clearTimeout(timer);
  }

  // From now on a lost connection is retried; duplicates (BullMQ makes some) inherit this.
  redis.options.retryStrategy = (times: number) =>
    Math.min(50 * 2 ** Math.min(times, 6), MAX_BACKOFF_MS);
  return redis;
}

/** The URL with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

function parseRedisUrl(url: string, shown: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `the Redis URL ${JSON.stringify(shown)} is not a URL; write it as redis://host:port (or rediss:// for TLS)`,
      { details: { url: shown } },
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `the Redis URL ${shown} must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379`,
      { details: { url: shown } },
    );
  }
  return u;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
