/**
 * `strata datasets [--json] [--store URL]`: every dataset of the master dataset with its records,
 * segments, bytes and event-time range, read from segment footers only.
 *
 *   $ strata datasets
 *   name       records  segments  bytes    from                  to
 *   pageviews  1000000  2         105.2 MB 2026-01-01T00:00:00Z  2026-01-07T23:59:59Z
 */
import type { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { datasetStats, type DatasetStats } from '../../core/dataset/dataset-stats.ts';
import { listDatasets } from '../../core/dataset/list-segments.ts';
import { openStoreFromConfig } from '../../core/store/open-store.ts';
import { formatBytes } from './ingest.ts';

export function register(program: Command): void {
  program
    .command('datasets')
    .description('list the datasets in the store: records, segments, bytes and event-time range')
    .option('--store <url>', 'store URL (overrides STRATA_STORE)')
    .option('--json', 'print a JSON array instead of a table')
    .action(async (flags: { store?: string; json?: boolean }) => {
      const config = loadConfig({ overrides: { store: flags.store } });
      const store = await openStoreFromConfig(config);
      let stats: DatasetStats[];
      try {
        stats = [];
        for (const name of await listDatasets(store)) stats.push(await datasetStats(store, name));
      } finally {
        await store.close();
      }
      if (flags.json) {
        const rows = stats.map((s) => ({ ...s, from: iso(s.minTime), to: iso(s.maxTime) }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (stats.length === 0) {
        process.stdout.write(
          `no datasets in ${store.url}; add one with: strata ingest <file> --dataset <name>\n`,
        );
        return;
      }
      const rows = [
        ['name', 'records', 'segments', 'bytes', 'from', 'to'],
        ...stats.map((s) => [
          s.name,
          s.records.toLocaleString('en-US'),
          String(s.segments),
          formatBytes(s.bytes),
          iso(s.minTime) ?? '-',
          iso(s.maxTime) ?? '-',
        ]),
      ];
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      const right = new Set([1, 2, 3]);
      const text = rows
        .map((r) =>
          r
            .map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
            .join('  ')
            .trimEnd(),
        )
        .join('\n');
      process.stdout.write(`${text}\n`);
    });
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace('.000Z', 'Z');
}
