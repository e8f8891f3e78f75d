/**
 * Starts a view server: loads the current version of every published view, listens, and
 * follows new versions (Redis announcements on `<prefix>:views`, and a check of every
 * views/<view>/_CURRENT each servePollMs, which alone suffices when no Redis is configured).
 *
 *   const server = await startViewServer(loadConfig({ overrides: { servePort: 0 } }), { log });
 *   server.url;                      // http://127.0.0.1:41234
 *   await server.stop();
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { StrataConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { openStoreFromConfig } from '../core/store/open-store.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { viewsChannel } from '../core/views/view-layout.ts';
import { BlockCache } from '../core/viewfile/block-cache.ts';
import { ServeMetrics } from './serve-metrics.ts';
import { LiveChanges } from './live-changes.ts';
import { RealtimeSource } from './realtime-merge.ts';
import { buildViewServerApi } from './view-server-api.ts';
import { ViewRegistry } from './view-registry.ts';

export interface ViewServerOptions {
  log?: Logger;
  /** Overrides config.serveHost / servePort / redisUrl. An empty redisUrl means polling only. */
  host?: string;
  port?: number;
  redisUrl?: string;
  /** Bytes of blocks cached across all views. Default config.serveBlockCacheBytes. */
  cacheBytes?: number;
  /** A store already open (tests); otherwise opened from the config and closed by stop(). */
  store?: ObjectStore;
}

export interface ViewServer {
  url: string;
  port: number;
  registry: ViewRegistry;
  metrics: ServeMetrics;
  stop(): Promise<void>;
}

export async function startViewServer(
  config: StrataConfig,
  opts: ViewServerOptions = {},
): Promise<ViewServer> {
  const log = opts.log;
  const store = opts.store ?? (await openStoreFromConfig(config));
  const ownStore = !opts.store;
  // A folder of this process alone: several servers may share serveCacheDir.
  const cacheDir = path.join(
    config.serveCacheDir || path.join(config.home, 'serve-cache'),
    `${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const cache = new BlockCache(opts.cacheBytes ?? config.serveBlockCacheBytes);
  const metrics = new ServeMetrics(cache);
  const redisUrl = opts.redisUrl ?? config.redisUrl;
  // Realtime views read their speed-layer buckets from Redis on every request. ioredis is loaded
  // only with a Redis URL: a server polling a file store does without its memory.
  const connectRedis = redisUrl
    ? (await import('../core/redis/connect-redis.ts')).connectRedis
    : undefined;
  const reader = connectRedis
    ? await connectRedis(redisUrl, { role: 'command', name: 'serve', ...(log ? { log } : {}) })
    : undefined;
  const realtime = reader
    ? new RealtimeSource({
        redis: reader,
        prefix: config.redisPrefix,
        store,
        codeDir: path.join(cacheDir, 'code'),
      })
    : undefined;
  const registry = new ViewRegistry({
    store,
    cacheDir,
    cache,
    metrics,
    ...(log ? { log } : {}),
    ...(realtime ? { realtime } : {}),
  });
  let ready = false;
  let subscriber: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;
  const live = new LiveChanges({ registry, prefix: config.redisPrefix, ...(log ? { log } : {}) });
  const app = buildViewServerApi({
    registry,
    metrics,
    ready: () => ready,
    live,
    ...(log ? { log } : {}),
  });

  const stop = async () => {
    clearInterval(timer);
    live.stop();
    subscriber?.disconnect();
    reader?.disconnect();
    await app.close(); // waits for requests in flight
    await registry.stop();
    await rm(cacheDir, { recursive: true, force: true });
    if (ownStore) await store.close();
  };

  try {
    if (connectRedis) {
      // Subscribe before the first load, so a version published meanwhile is not missed.
      subscriber = await connectRedis(redisUrl, {
        role: 'subscriber',
        name: 'serve',
        ...(log ? { log } : {}),
      });
      await live.start(subscriber);
      const channel = viewsChannel(config.redisPrefix);
      subscriber.on('message', (ch: string, message: string) => {
        if (ch !== channel) return;
        try {
          const { view } = JSON.parse(message) as { view?: unknown };
          if (typeof view === 'string') void registry.refresh(view);
        } catch (err) {
          log?.warn(
            { err, message: message.slice(0, 200) },
            'ignoring an announcement that is not JSON { view, version }',
          );
        }
      });
      await subscriber.subscribe(channel);
    }
    await registry.syncAll();
    ready = true;
    let polling = false;
    timer = setInterval(() => {
      if (polling) return;
      polling = true;
      registry
        .syncAll()
        .catch((err: unknown) =>
          log?.warn(
            { err },
            'checking the store for new view versions failed; retrying at the next check',
          ),
        )
        .finally(() => (polling = false));
    }, config.servePollMs);
    timer.unref();
    await app.listen({ host: opts.host ?? config.serveHost, port: opts.port ?? config.servePort });
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  const address = app.server.address();
  const port =
    typeof address === 'object' && address ? address.port : (opts.port ?? config.servePort);
  const host = opts.host ?? config.serveHost;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    registry,
    metrics,
    stop,
  };
}
