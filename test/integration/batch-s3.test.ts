/**
 * The store is a contract, not a detail: the same job over the same records gives byte-identical
 * view files whether the cluster keeps its data in a local directory or on an S3 server (here a
 * real S3 HTTP server started by the test; MinIO or AWS in production).
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  listVersions,
  partKey,
  readCurrentVersion,
  readManifest,
} from '../../core/views/view-layout.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import { startS3Server, type S3TestServer } from '../support/s3-server.ts';
import { startCluster, type TestCluster } from '../support/cluster.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const PAGEVIEWS = path.join(REPO, 'examples/web-analytics/pageviews.ts');

let s3: S3TestServer | undefined;
afterAll(async () => {
  await s3?.stop();
});

/** Runs pageviews over the same generated events on a fresh cluster and returns its part files. */
async function runPageviews(
  cluster: TestCluster,
): Promise<{ parts: Uint8Array[]; inputSegments: Array<{ day: string; records: number }> }> {
  const records = [...generatePageviews({ count: 40_000, seed: 3 })] as unknown as Array<
    Record<string, unknown>
  >;
  await cluster.append('pageviews', records, (e) => Date.parse(e.time as string));
  const run = await cluster.strata(['submit', PAGEVIEWS, '--wait', '--partitions', '4']);
  expect(run.stderr.split('\n').filter((l) => l.startsWith('strata:'))).toEqual([]);
  expect(run.code).toBe(0);
  const version = (await readCurrentVersion(cluster.store, 'pageviews'))!;
  expect(await listVersions(cluster.store, 'pageviews')).toEqual([version]);
  const manifest = await readManifest(cluster.store, 'pageviews', version);
  const parts = await Promise.all(
    Array.from({ length: manifest.partitions }, (_, p) =>
      cluster.store.get(partKey('pageviews', version, p)),
    ),
  );
  return {
    parts,
    inputSegments: manifest.inputSegments.map((s) => ({
      day: s.key.split('/')[2]!,
      records: s.records,
    })),
  };
}

describe('the batch layer on S3', () => {
  it('the pageviews job writes byte-identical view files on an S3 server and on the file store', async () => {
    s3 = await startS3Server();
    const onS3 = await startCluster({
      workers: 2,
      memoryBudgetBytes: 256 * 1024,
      store: s3.url('strata-views', 'cluster'),
    });
    let fromS3: Awaited<ReturnType<typeof runPageviews>>;
    try {
      expect(onS3.info.store.startsWith('s3://')).toBe(true);
      fromS3 = await runPageviews(onS3);
    } finally {
      await onS3.stop();
    }
    const onFiles = await startCluster({ workers: 2, memoryBudgetBytes: 256 * 1024 });
    let fromFiles: Awaited<ReturnType<typeof runPageviews>>;
    try {
      expect(onFiles.info.store.startsWith('file://')).toBe(true);
      fromFiles = await runPageviews(onFiles);
    } finally {
      await onFiles.stop();
    }

    // The same records in the same days (segment bytes differ only by their write time), and the
    // same view bytes.
    expect(fromS3.inputSegments).toHaveLength(14);
    expect(fromS3.inputSegments).toEqual(fromFiles.inputSegments);
    expect(fromS3.parts).toHaveLength(4);
    for (let p = 0; p < 4; p++) {
      expect(fromS3.parts[p]!.byteLength).toBeGreaterThan(0);
      expect(
        Buffer.from(fromS3.parts[p]!).equals(Buffer.from(fromFiles.parts[p]!)),
        `part-${p}.sv differs`,
      ).toBe(true);
    }
  }, 240_000);
});
