/**
 * `<home>/cluster.json`: how to reach the local cluster that `strata dev` started. Every command
 * reads it when a config value (Redis URL, token, coordinator URL, store, view server URL) is left
 * empty.
 *
 *   await writeClusterFile(config.home, { redisUrl, redisPrefix, token, coordinatorUrl, store, pids: { redis: 123 } });
 *   const cluster = await readClusterFile(config.home);   // undefined when no cluster was started here
 *   const redisUrl = config.redisUrl || cluster?.redisUrl;
 *
 * The file holds the cluster's token, so it is written owner-only (0600), atomically (a reader
 * never sees half a file).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { StrataError } from './errors.ts';

export const CLUSTER_FILE = 'cluster.json';

const clusterInfoSchema = z.object({
  redisUrl: z.string(),
  redisPrefix: z.string(),
  token: z.string(),
  coordinatorUrl: z.string(),
  store: z.string(),
  /**
   * The cluster's view server (`strata serve`), when it runs one; files written before it existed
   * lack it.
   */
  serveUrl: z.string().optional(),
  /** The cluster's speed layer ingest API (`strata speed`), when it runs one. */
  speedUrl: z.string().optional(),
  /** Process ids of the cluster's children, by role (redis, coordinator, worker-0, …). */
  pids: z.record(z.string(), z.number().int()).default({}),
});

export type ClusterInfo = z.infer<typeof clusterInfoSchema>;

export function clusterFilePath(home: string): string {
  return path.join(home, CLUSTER_FILE);
}

/**
 * The cluster file of `home`, or undefined when there is none. A malformed file is STRATA_E_CONFIG
 * naming it.
 */
export async function readClusterFile(home: string): Promise<ClusterInfo | undefined> {
  const file = clusterFilePath(home);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StrataError('STRATA_E_CONFIG', `cannot read ${file}: ${(err as Error).message}`, {
      details: { file },
      cause: err,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StrataError(
      'STRATA_E_CONFIG',
      `${file} is not JSON (${(err as Error).message}); delete it and restart \`strata dev\``,
      { details: { file }, cause: err },
    );
  }
  const result = clusterInfoSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw new StrataError(
      'STRATA_E_CONFIG',
      `${file} is not a cluster file (${problems.join('; ')}); delete it and restart \`strata dev\``,
      { details: { file, problems } },
    );
  }
  return result.data;
}

/** Writes the cluster file atomically, readable by its owner only. */
export async function writeClusterFile(home: string, info: ClusterInfo): Promise<string> {
  const file = clusterFilePath(home);
  const checked = clusterInfoSchema.parse(info);
  await mkdir(home, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return file;
}

/** Removes the cluster file (when `strata dev` stops); a missing file is not an error. */
export async function removeClusterFile(home: string): Promise<void> {
  await rm(clusterFilePath(home), { force: true });
}
