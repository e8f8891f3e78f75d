/**
 * Shared by the worker tests: a temporary file store with a dataset in it, the splits a
 * coordinator would cut, map tasks over them, and job bundles built the way `strata submit`
 * builds them (esbuild, 'strata' → jobs/index.ts) and stored at code/<sha256>.mjs.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DatasetAppender } from '../../../core/dataset/dataset-appender.ts';
import { eventTimeOf } from '../../../core/dataset/event-time.ts';
import { listSegments } from '../../../core/dataset/list-segments.ts';
import { readSegmentFooter } from '../../../core/segment/open-segment.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectStore } from '../../../core/store/store.ts';
import type { MapTask, ParamValue, Split } from '../../../core/tasks/task-payload.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface TempStore {
  dir: string;
  url: string;
  store: ObjectStore;
  cleanup(): Promise<void>;
}

export async function tempStore(): Promise<TempStore> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-worker-'));
  const url = `file://${path.join(dir, 'store')}`;
  const store = await openStore(url);
  return {
    dir,
    url,
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Appends records (event time from `time`) as a dataset with small blocks, so splits have several.
 */
export async function ingest(
  store: ObjectStore,
  dataset: string,
  records: Record<string, unknown>[],
  blockTargetBytes = 16 * 1024,
): Promise<void> {
  const appender = new DatasetAppender(store, dataset, { blockTargetBytes, timeField: 'time' });
  for (const r of records) await appender.append(r, eventTimeOf(r.time));
  await appender.commit();
}

/** Splits of about `blocksPerSplit` blocks each over every segment, in segment order. */
export async function splitsOf(
  store: ObjectStore,
  dataset: string,
  blocksPerSplit: number,
): Promise<Split[]> {
  const splits: Split[] = [];
  for (const seg of await listSegments(store, dataset)) {
    const footer = await readSegmentFooter(store, seg.key, seg.size);
    for (let b = 0; b < footer.blocks.length; b += blocksPerSplit) {
      const blocks = footer.blocks.slice(b, b + blocksPerSplit);
      const last = blocks.at(-1)!;
      splits.push({
        segmentKey: seg.key,
        startBlock: b,
        endBlock: b + blocks.length,
        startOffset: blocks[0]!.offset,
        endOffset: last.offset + last.length,
        records: blocks.reduce((n, x) => n + x.count, 0),
      });
    }
  }
  return splits;
}

export function mapTasks(
  jobId: string,
  codeHash: string,
  splits: Split[],
  partitions: number,
  params: Record<string, ParamValue> = {},
): MapTask[] {
  return splits.map((split, i) => ({
    kind: 'map',
    jobId,
    taskId: `m-${i}`,
    attempt: 1,
    codeHash,
    split,
    partitions,
    params,
  }));
}

export interface Bundle {
  codeHash: string;
  bytes: Uint8Array;
}

/** Bundles a job module as `strata submit` does and puts it at code/<sha256>.mjs (if absent). */
export async function bundleJob(store: ObjectStore, entry: string): Promise<Bundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    alias: { strata: path.join(repoRoot, 'jobs/index.ts') },
    logLevel: 'silent',
  });
  const bytes = result.outputFiles[0]!.contents;
  const codeHash = createHash('sha256').update(bytes).digest('hex');
  if (!(await store.stat(`code/${codeHash}.mjs`))) await store.put(`code/${codeHash}.mjs`, bytes);
  return { codeHash, bytes };
}

export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}
