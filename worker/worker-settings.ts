/**
 * What a worker process runs with: the process config, with empty values filled from the local
 * cluster file (`<home>/cluster.json`, written by `strata dev`), checked once at start.
 *
 *   const settings = await workerSettings(loadConfig());
 *   settings.threads     // config.workerThreads, or one per core
 *   settings.workDir     // config.workDir, or <home>/work/<worker id>
 *
 * Redis URL, token and store fall back to the cluster file when the config leaves them empty
 * (the store and the Redis prefix when they are at their defaults). A worker without a Redis URL
 * or a token cannot work: STRATA_E_CONFIG says where to set them.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { readClusterFile } from '../core/cluster-file.ts';
import { OPTIONS, type StrataConfig } from '../core/config.ts';
import { StrataError } from '../core/errors.ts';

export interface WorkerSettings {
  /**
   * Unique per process: `<host>-<pid>-<random>`. BullMQ's processedBy and the Redis registration
   * use it.
   */
  id: string;
  redisUrl: string;
  redisPrefix: string;
  token: string;
  store: string;
  s3AccessKey: string;
  s3SecretKey: string;
  workDir: string;
  threads: number;
  shuffleHost: string;
  /** What reducers on other workers dial: the advertise host, else the bind host. */
  shuffleAdvertiseHost: string;
  shufflePort: number;
  memoryBudgetBytes: number;
  heartbeatMs: number;
  lockDurationMs: number;
  logLevel: StrataConfig['logLevel'];
}

export async function workerSettings(config: StrataConfig): Promise<WorkerSettings> {
  const cluster = await readClusterFile(config.home);
  const redisUrl = config.redisUrl || cluster?.redisUrl || '';
  const token = config.token || cluster?.token || '';
  const missing = [
    ...(redisUrl
      ? []
      : [`${OPTIONS.redisUrl.env} (the cluster's Redis, e.g. redis://127.0.0.1:6379)`]),
    ...(token
      ? []
      : [
          `${OPTIONS.token.env} (the cluster token; reducers must present it to the shuffle server)`,
        ]),
  ];
  if (missing.length > 0) {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `a worker needs ${missing.join(' and ')}: set them, or start a local cluster with \`strata dev\` so ${path.join(config.home, 'cluster.json')} names them`,
      {
        details: { missing },
      },
    );
  }
  const defaultStore = `file://${path.join(config.home, 'store')}`;
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9-]/g, '-')
      .slice(0, 40) || 'host';
  const id = `${host}-${process.pid}-${randomBytes(2).toString('hex')}`;
  return {
    id,
    redisUrl,
    redisPrefix:
      config.redisPrefix === OPTIONS.redisPrefix.default && cluster
        ? cluster.redisPrefix
        : config.redisPrefix,
    token,
    store: config.store === defaultStore && cluster?.store ? cluster.store : config.store,
    s3AccessKey: config.s3AccessKey,
    s3SecretKey: config.s3SecretKey,
    workDir: path.resolve(config.cwd, config.workDir || path.join(config.home, 'work', id)),
    threads: config.workerThreads || os.availableParallelism(),
    shuffleHost: config.shuffleHost,
    shuffleAdvertiseHost: advertiseHost(config.shuffleHost, config.shuffleAdvertiseHost),
    shufflePort: config.shufflePort,
    memoryBudgetBytes: config.memoryBudgetBytes,
    heartbeatMs: config.heartbeatMs,
    lockDurationMs: config.lockDurationMs,
    logLevel: config.logLevel,
  };
}

/**
 * A wildcard bind address cannot be dialled from elsewhere: it needs an explicit advertise host.
 */
function advertiseHost(bind: string, advertise: string): string {
  if (advertise) return advertise;
  if (bind === '0.0.0.0' || bind === '::' || bind === '[::]') {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `STRATA_SHUFFLE_HOST=${bind} binds every interface, but other workers cannot dial ${bind}; set STRATA_SHUFFLE_ADVERTISE_HOST to this machine's name or address`,
      {
        details: { shuffleHost: bind },
      },
    );
  }
  return bind;
}
