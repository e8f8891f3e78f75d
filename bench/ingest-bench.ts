/**
 * `npm run bench -- ingest [--records N]`: `strata ingest` of N generated pageviews (NDJSON,
 * ~200 bytes each) into a fresh file store, beside a plain Node loop that only reads and parses
 * the same file, measured in the same run. The ratio is the figure to quote.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ingestFile } from '../cli/input/ingest-file.ts';
import { openStore } from '../core/store/open-store.ts';
import { writePageviewsNdjson } from '../examples/web-analytics/generate-pageviews.ts';
import { forEachLine } from './read-ndjson-lines.ts';

/** The baseline: read the file in chunks, split lines, JSON.parse each; nothing else. */
async function parseOnly(file: string): Promise<{ records: number; ms: number }> {
  const t0 = performance.now();
  let records = 0;
  await forEachLine(file, (line) => {
    JSON.parse(line);
    records++;
  });
  return { records, ms: performance.now() - t0 };
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '1000000' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const count = Number(values.records);
  const rounds = Number(values.rounds);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-ingest-'));
  try {
    const file = path.join(dir, 'pageviews.ndjson');
    const { bytes } = await writePageviewsNdjson(count, file, { seed: 7 });
    const mb = bytes / 1e6;
    process.stdout.write(`input: ${count.toLocaleString()} events, ${mb.toFixed(1)} MB NDJSON\n`);
    // Alternate the two so load changes on a shared machine hit both alike.
    for (let round = 1; round <= rounds; round++) {
      const base = await parseOnly(file);
      const store = await openStore(`file://${path.join(dir, `store-${round}`)}`);
      const summary = await ingestFile(store, { path: file, dataset: 'pageviews' });
      await store.close();
      if (summary.records !== count || base.records !== count)
        throw new Error(
          `record count mismatch: ingest ${summary.records}, baseline ${base.records}, expected ${count}`,
        );
      const baseRps = (count / base.ms) * 1000;
      const rps = (count / summary.elapsedMs) * 1000;
      process.stdout.write(
        `round ${round}: strata ingest ${fmt(rps)} records/s, ${(mb / (summary.elapsedMs / 1000)).toFixed(1)} MB/s (${summary.segments} segments, ${(summary.segmentBytes / 1e6).toFixed(1)} MB stored)` +
          ` | baseline read+JSON.parse ${fmt(baseRps)} records/s, ${(mb / (base.ms / 1000)).toFixed(1)} MB/s` +
          ` | ratio ${(rps / baseRps).toFixed(2)}x\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
