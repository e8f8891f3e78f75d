/**
 * What the group commit tells the rest of the speed layer about a commit whose segments are
 * durable: the hook runs after the store put and before the acknowledgement (and again, without
 * records, when recovery finishes a commit after a crash). The realtime fold is that hook.
 *
 *   const hook = await createCommitHook(config, log);    // undefined: nothing to fold into
 *   const server = await startSpeedServer(config, { onCommitted: hook?.onCommitted });
 *   …
 *   await hook?.close();
 *
 * A hook that throws fails the group (503, nothing acknowledged) and leaves the commit in flight,
 * so it is retried; it must therefore be idempotent per commit id.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { StrataConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { connectRedis } from '../core/redis/connect-redis.ts';
import { openStoreFromConfig } from '../core/store/open-store.ts';
import { RealtimeFolder } from './realtime-fold.ts';

export interface CommittedCommit {
  dataset: string;
  /** Commit id (per dataset, increasing). */
  id: number;
  bucket: number;
  /** Master keys of the commit's segments, all durable. */
  segments: string[];
  /** The realtime views registered for the dataset when the commit began. */
  views: string[];
  /** The records, in request order; absent when recovery finishes a commit (read the segments). */
  records?: Record<string, unknown>[];
}

export type CommitHook = (commit: CommittedCommit) => Promise<void>;

export interface CommitHookHandle {
  onCommitted: CommitHook;
  /** Releases what the hook holds (connections); called when strata speed stops. */
  close(): Promise<void>;
}

/**
 * The realtime fold (realtime-fold.ts) over its own Redis connection and store handle. Always
 * present when Redis is configured: a view registered later is folded from its first commit on,
 * since a commit's views are read atomically with its number.
 */
export async function createCommitHook(
  config: StrataConfig,
  log?: Logger,
): Promise<CommitHookHandle | undefined> {
  if (!config.redisUrl) return undefined;
  const redis = await connectRedis(config.redisUrl, {
    role: 'command',
    name: 'speed-fold',
    ...(log ? { log } : {}),
  });
  const store = await openStoreFromConfig(config).catch(async (err: unknown) => {
    redis.disconnect();
    throw err;
  });
  const codeDir = path.join(
    config.home,
    'speed-code',
    `${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const folder = new RealtimeFolder({
    redis,
    store,
    prefix: config.redisPrefix,
    codeDir,
    ...(log ? { log } : {}),
    onSkipped: (view, records) =>
      log?.warn({ view, records }, 'records skipped by a realtime view (its map threw on them)'),
  });
  return {
    onCommitted: (commit) => folder.onCommitted(commit),
    async close() {
      redis.disconnect();
      await store.close();
      await rm(codeDir, { recursive: true, force: true });
    },
  };
}
