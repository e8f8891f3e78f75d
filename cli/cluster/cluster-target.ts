/**
 * Which cluster a command talks to: flags first, then the configuration (STRATA_* variables),
 * then `<home>/cluster.json`, written by `strata dev`.
 *
 *   program.command('jobs').addOption(…); withTargetOptions(cmd);
 *   const target = await resolveTarget(flags);          // { config, store, coordinatorUrl, token, … }
 *   const api = coordinatorOf(target);                  // STRATA_E_COORDINATOR_UNAVAILABLE if none is known
 *   target.serveUrl;                                    // --server, STRATA_SERVE_URL, or the cluster's view server
 *
 * The Redis URL and prefix travel together: a configured Redis URL brings the configured prefix;
 * otherwise both come from cluster.json (whose prefix is random per cluster).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { readClusterFile, type ClusterInfo } from '../../core/cluster-file.ts';
import { loadConfig, type StrataConfig } from '../../core/config.ts';
import { StrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { CoordinatorClient } from '../coordinator-client.ts';

export interface TargetFlags {
  store?: string;
  coordinator?: string;
  token?: string;
  /** A view server URL, or false (`--no-server`) to read the store directly. */
  server?: string | false;
}

export interface ClusterTarget {
  config: StrataConfig;
  store: string;
  coordinatorUrl: string | undefined;
  token: string | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  /** The view server to ask first (strata get/scan), if one is known. */
  serveUrl: string | undefined;
  /** The cluster file that was read, if any. */
  cluster: ClusterInfo | undefined;
}

/** Adds --store, --coordinator and --token to a command (and --server/--no-server when asked). */
export function withTargetOptions(
  cmd: Command,
  which: { store?: boolean; coordinator?: boolean; server?: boolean } = {
    store: true,
    coordinator: true,
  },
): Command {
  if (which.store !== false)
    cmd.option(
      '--store <url>',
      'store URL (default: STRATA_STORE, else the cluster of .strata/cluster.json, else .strata/store)',
    );
  if (which.server === true) {
    cmd.option(
      '--server <url>',
      'view server to ask first; the store is read when it does not answer (default: STRATA_SERVE_URL, else the view server of .strata/cluster.json)',
    );
    cmd.option('--no-server', 'read the store directly, not through a view server');
  }
  if (which.coordinator !== false) {
    cmd.option(
      '--coordinator <url>',
      'coordinator API URL (default: STRATA_COORDINATOR_URL, else .strata/cluster.json)',
    );
    cmd.option(
      '--token <token>',
      'coordinator token (default: STRATA_TOKEN, else .strata/cluster.json)',
    );
  }
  return cmd;
}

export async function resolveTarget(
  flags: TargetFlags,
  options: { config?: StrataConfig } = {},
): Promise<ClusterTarget> {
  const config = options.config ?? loadConfig({ overrides: { store: flags.store } });
  const cluster = await readClusterFile(config.home);
  // config.store is never empty: loadConfig derives file://<home>/store. Only that derived default
  // yields to the cluster's store; a flag or STRATA_STORE naming another store wins.
  const isDefaultStore =
    flags.store === undefined &&
    config.store === pathToFileURL(path.join(config.home, 'store')).href;
  const store = isDefaultStore && cluster ? cluster.store : config.store;
  const fromConfig = config.redisUrl !== '';
  return {
    config,
    store,
    coordinatorUrl:
      flags.coordinator || config.coordinatorUrl || cluster?.coordinatorUrl || undefined,
    token: flags.token || config.token || cluster?.token || undefined,
    redisUrl: fromConfig ? config.redisUrl : cluster?.redisUrl,
    redisPrefix: fromConfig || !cluster ? config.redisPrefix : cluster.redisPrefix,
    // The cluster's view server serves the cluster's store: it answers only for that store.
    serveUrl:
      flags.server === false
        ? undefined
        : flags.server ||
          config.serveUrl ||
          (cluster && store === cluster.store ? cluster.serveUrl : undefined) ||
          undefined,
    cluster,
  };
}

/**
 * A client of the target's coordinator; a clear error when no coordinator is configured or running.
 */
export function coordinatorOf(target: ClusterTarget): CoordinatorClient {
  if (!target.coordinatorUrl) {
    throw new StrataError(
      'STRATA_E_COORDINATOR_UNAVAILABLE',
      `no coordinator is configured and no cluster is running here (${target.config.home}/cluster.json does not exist); start a cluster with strata dev, or pass --coordinator URL --token TOKEN`,
      { details: { home: target.config.home } },
    );
  }
  if (!target.token) {
    throw new StrataError(
      'STRATA_E_AUTH',
      `no token for the coordinator at ${target.coordinatorUrl}; pass --token or set STRATA_TOKEN`,
      { details: { url: target.coordinatorUrl } },
    );
  }
  return new CoordinatorClient({ url: target.coordinatorUrl, token: target.token });
}

export function openTargetStore(target: ClusterTarget): Promise<ObjectStore> {
  return openStore(target.store, {
    accessKey: target.config.s3AccessKey || undefined,
    secretKey: target.config.s3SecretKey || undefined,
  });
}
