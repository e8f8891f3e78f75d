/**
 * What the cluster's long-running processes (`strata coordinator`, `strata serve`) share at start:
 * their configuration, with empty settings filled from <home>/cluster.json (written by
 * `strata dev`), and a wait for the signal that stops them.
 *
 *   const config = await loadServiceConfig({ redisUrl: flags.redis, store: flags.store });
 *   … start …
 *   const signal = await untilStopSignal();
 */
import { readClusterFile } from '../../core/cluster-file.ts';
import { loadConfig, type OptionName, type StrataConfig } from '../../core/config.ts';

export async function loadServiceConfig(
  overrides: Partial<Record<OptionName, string | undefined>>,
): Promise<StrataConfig> {
  const config = loadConfig({ overrides });
  const cluster = await readClusterFile(config.home);
  if (!cluster) return config;
  const defaultStore = loadConfig({ overrides: { ...overrides, store: '' } }).store;
  return loadConfig({
    overrides: {
      ...overrides,
      redisUrl: config.redisUrl || cluster.redisUrl,
      token: config.token || cluster.token,
      // The store and prefix have non-empty defaults: the cluster's win over a default only.
      ...(config.store === defaultStore && cluster.store ? { store: cluster.store } : {}),
      ...(config.redisPrefix === 'strata' && cluster.redisPrefix
        ? { redisPrefix: cluster.redisPrefix }
        : {}),
    },
  });
}

/** Resolves with the first SIGTERM or SIGINT. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
