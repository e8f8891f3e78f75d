/**
 * `strata scan <view> [prefix part…] [--limit N] [--string] [--version V]`: the entries of a view
 * in key order as NDJSON lines `[key, value]`; key parts are read as in strata get.
 *
 *   $ strata scan pageviews /home --limit 2
 *   [["/home","2024-06-01T00"],31]
 *   [["/home","2024-06-01T01"],24]
 *
 * A prefix with a first part reads one part file (keys are partitioned by their first element);
 * no prefix merges every part in key order.
 */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { openTargetStore, resolveTarget, withTargetOptions, type TargetFlags } from '../cluster/cluster-target.ts';
import { parseKeyParts, withKeyOptions, type KeyFlags } from './get.ts';

export function register(program: Command): void {
  const cmd = withKeyOptions(
    program
      .command('scan')
      .description('print the entries of a view in key order as NDJSON [key, value] lines')
      .argument('<view>', 'the view name (strata views lists them)')
      .argument('[prefix...]', 'only keys that start with these parts')
      .option('--limit <n>', 'print at most this many entries'),
  );
  withTargetOptions(cmd, { coordinator: false }).action(async (view: string, parts: string[], flags: TargetFlags & KeyFlags & { limit?: string }) => {
    const limit = flags.limit === undefined ? undefined : Number(flags.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new StrataError('STRATA_E_USAGE', `--limit must be a non-negative integer, got "${flags.limit}"`);
    const prefix = parseKeyParts(parts, flags);
    const store = await openTargetStore(await resolveTarget(flags));
    try {
      const reader = await ViewReader.open(store, view, flags.version ? { version: flags.version } : {});
      try {
        let batch = '';
        for await (const entry of reader.scan({ prefix, ...(limit === undefined ? {} : { limit }) })) {
          batch += `${JSON.stringify(entry)}\n`;
          if (batch.length >= 64 * 1024) {
            if (!process.stdout.write(batch)) await new Promise((resolve) => process.stdout.once('drain', resolve));
            batch = '';
          }
        }
        if (batch) process.stdout.write(batch);
      } finally {
        await reader.close();
      }
    } finally {
      await store.close();
    }
  });
}
