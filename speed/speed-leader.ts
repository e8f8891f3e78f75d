/**
 * The speed lease: one `strata speed` per cluster prefix commits and folds, so realtime state has
 * a single writer. A Redis key `<p>:speed:leader` set with NX and a TTL, renewed while we run.
 *
 *   const lease = await acquireSpeedLease(redis, config.redisPrefix, { log });  // STRATA_E_SPEED_LEADER if taken
 *   lease.token;                 // 'host:pid:nonce', passed to CommitLog.begin as a fence
 *   lease.lost.then((err) => …); // the lease could not be renewed: stop committing
 *   await lease.release();
 *
 * A lease whose holder is a process of this host that no longer exists (it was killed) is taken
 * over at once instead of waiting for it to expire; on another host only expiry frees it.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { StrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { holderOf, speedLeaderKey } from './commit-log.ts';
import { speedScripts } from './speed-scripts.ts';

export interface SpeedLease {
  token: string;
  /** `host:pid` */
  holder: string;
  /**
   * Resolves (never rejects) when the lease is lost: someone else holds it, or it could not be
   * renewed in time.
   */
  lost: Promise<StrataError>;
  release(): Promise<void>;
}

export interface SpeedLeaseOptions {
  /** Lease time to live. Default 10 000 ms; renewed every third of it. */
  ttlMs?: number;
  log?: Logger;
}

const DEFAULT_TTL_MS = 10_000;

export async function acquireSpeedLease(
  redis: Redis,
  prefix: string,
  options: SpeedLeaseOptions = {},
): Promise<SpeedLease> {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const key = speedLeaderKey(prefix);
  const scripts = speedScripts(redis);
  const holder = `${os.hostname()}:${process.pid}`;
  const token = `${holder}:${randomBytes(6).toString('hex')}`;

  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
    const current = await redis.get(key);
    const tookOver =
      current !== null &&
      isDeadLocalHolder(current) &&
      (await scripts.takeover(key, current, token, ttlMs)) === 1;
    if (tookOver)
      options.log?.warn(
        { previous: holderOf(current) },
        'took over the speed lease of a strata speed process of this host that no longer runs',
      );
    else if (current === null && (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') {
      // it expired between our two looks
    } else {
      const pttl = await redis.pttl(key);
      const who = current === null ? '(unknown)' : holderOf(current);
      throw new StrataError(
        'STRATA_E_SPEED_LEADER',
        `another strata speed process (${who}) already runs for the cluster prefix ${prefix}: only one may commit. Stop that one first` +
          (pttl > 0
            ? `; if it was killed, its lease expires in ${Math.ceil(pttl / 1000)} s, then start this one again`
            : '') +
          `; or give this one its own cluster with another STRATA_REDIS_PREFIX`,
        { details: { prefix, holder: who, expiresInMs: pttl } },
      );
    }
  }

  let resolveLost!: (err: StrataError) => void;
  const lost = new Promise<StrataError>((resolve) => (resolveLost = resolve));
  let lastRenewed = Date.now();
  let done = false;
  const lose = (err: StrataError) => {
    if (done) return;
    done = true;
    clearInterval(timer);
    resolveLost(err);
  };
  const timer = setInterval(
    () => {
      scripts
        .renew(key, token, ttlMs)
        .then((ok) => {
          if (ok === 1) lastRenewed = Date.now();
          else
            lose(
              new StrataError(
                'STRATA_E_SPEED_LEADER',
                `the speed lease of prefix ${prefix} was taken by another process; this strata speed stops committing`,
                { details: { prefix } },
              ),
            );
        })
        .catch((err: unknown) => {
          options.log?.warn({ err }, 'renewing the speed lease failed; retrying');
          if (Date.now() - lastRenewed >= ttlMs) {
            lose(
              new StrataError(
                'STRATA_E_SPEED_LEADER',
                `the speed lease of prefix ${prefix} could not be renewed for ${ttlMs} ms (Redis unreachable), so another process may hold it now; this strata speed stops committing`,
                { cause: err, details: { prefix } },
              ),
            );
          }
        });
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  timer.unref();

  return {
    token,
    holder,
    lost,
    release: async () => {
      if (done) return;
      done = true;
      clearInterval(timer);
      await scripts
        .release(key, token)
        .catch((err: unknown) =>
          options.log?.warn({ err }, 'could not release the speed lease; it expires by itself'),
        );
    },
  };
}

/** A token `host:pid:nonce` of this host whose process is gone. */
function isDeadLocalHolder(token: string): boolean {
  const parts = token.split(':');
  if (parts.length < 3) return false;
  const pid = Number(parts[parts.length - 2]);
  const host = parts.slice(0, -2).join(':');
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
