/**
 * What the speed layer tests share: a config for a fresh cluster prefix and store, and reading a
 * dataset back record by record.
 *
 *   const config = speedConfig({ redisUrl: redis.url, store: `file://${dir}` });
 *   const records = await readDataset(store, 'ticks');   // every record of every segment, key order
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type OptionName, type StrataConfig } from '../../core/config.ts';
import { isStrataError } from '../../core/errors.ts';
import { listSegments, type SegmentEntry } from '../../core/dataset/list-segments.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import type { ObjectStore } from '../../core/store/store.ts';

export const TOKEN = 'speed-test-token';

export function speedConfig(overrides: Partial<Record<OptionName, string | number>>): StrataConfig {
  return loadConfig({
    env: {},
    overrides: {
      redisPrefix: `t-${randomBytes(4).toString('hex')}`,
      token: TOKEN,
      speedPort: 0,
      speedBucketMs: 1000,
      logLevel: 'silent',
      ...overrides,
    },
  });
}

export async function segmentsOf(store: ObjectStore, dataset: string): Promise<SegmentEntry[]> {
  try {
    return await listSegments(store, dataset);
  } catch (err) {
    if (isStrataError(err, 'STRATA_E_DATASET_NOT_FOUND')) return [];
    throw err;
  }
}

export async function readDataset(
  store: ObjectStore,
  dataset: string,
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const s of await segmentsOf(store, dataset)) {
    const reader = await openSegment(store, s.key, { size: s.size });
    for await (const r of reader.records()) out.push(r);
  }
  return out;
}

export function ndjson(records: unknown[]): string {
  return `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
}

export async function post(
  url: string,
  dataset: string,
  body: string,
  opts: { type?: string; token?: string | null; query?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': opts.type ?? 'application/x-ndjson' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  const res = await fetch(`${url}/v1/datasets/${dataset}/records${opts.query ?? ''}`, {
    method: 'POST',
    headers,
    body,
  });
  return { status: res.status, body: await res.json() };
}
