/**
 * `strata scan <view> [prefix part…] [--limit N] [--string] [--version V]`: the entries of a view
 * in key order as NDJSON lines `[key, value]`; key parts are read as in strata get.
 *
 *   $ strata scan pageviews /home --limit 2
 *   [["/home","2024-06-01T00"],31]
 *   [["/home","2024-06-01T01"],24]
 *
 * A prefix with a first part reads one part file (keys are partitioned by their first element);
 * no prefix merges every part in key order. With a view server known (see strata get) the pages
 * come from it; when it does not answer or does not serve the view, the store is read. Every line
 * is from one version: if the server stops answering, or swaps to a newer version, part way, the
 * rest is read from the store at the version the first page came from, after the last key printed.
 */
import type { Command } from 'commander';
import { isStrataError, StrataError } from '../../core/errors.ts';
import { compareBytes, encodeKey, type KeyPart } from '../../core/keys/key-codec.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import {
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type ClusterTarget,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import { ViewServerClient } from '../cluster/view-server-client.ts';
import { parseKeyParts, withKeyOptions, type KeyFlags } from './get.ts';

/** Entries per request to the view server (its default maximum page). */
const PAGE = 1000;

export function register(program: Command): void {
  const cmd = withKeyOptions(
    program
      .command('scan')
      .description('print the entries of a view in key order as NDJSON [key, value] lines')
      .argument('<view>', 'the view name (strata views lists them)')
      .argument('[prefix...]', 'only keys that start with these parts')
      .option('--limit <n>', 'print at most this many entries'),
  );
  withTargetOptions(cmd, { coordinator: false, server: true }).action(
    async (view: string, parts: string[], flags: TargetFlags & KeyFlags & { limit?: string }) => {
      const limit = flags.limit === undefined ? Infinity : Number(flags.limit);
      if (flags.limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
        throw new StrataError(
          'STRATA_E_USAGE',
          `--limit must be a non-negative integer, got "${flags.limit}"`,
        );
      const prefix = parseKeyParts(parts, flags);
      const target = await resolveTarget(flags);
      const out = new LineWriter();
      let from: ResumePoint = {};
      if (target.serveUrl && !flags.version) {
        const resume = await scanThroughServer(
          new ViewServerClient(target.serveUrl),
          view,
          prefix,
          limit,
          out,
        );
        if (resume === 'done') return out.flush();
        from = resume;
      }
      const version = from.version ?? flags.version;
      await withStore(target, async (store) => {
        const reader = await ViewReader.open(store, view, version ? { version } : {});
        try {
          const after = from.last ? encodeKey(from.last) : undefined;
          let printed = from.printed ?? 0;
          for await (const entry of reader.scan({
            prefix,
            ...(after || limit === Infinity ? {} : { limit: limit - printed }),
          })) {
            if (printed >= limit) break;
            if (after && compareBytes(encodeKey(entry[0]), after) <= 0) continue;
            await out.line(entry);
            printed++;
          }
        } finally {
          await reader.close();
        }
      });
      await out.flush();
    },
  );
}

/** Where the store takes over: nothing printed yet (empty), or after `last` of `version`. */
interface ResumePoint {
  version?: string;
  last?: KeyPart[];
  printed?: number;
}

async function scanThroughServer(
  server: ViewServerClient,
  view: string,
  prefix: KeyPart[],
  limit: number,
  out: LineWriter,
): Promise<'done' | ResumePoint> {
  let version: string | undefined;
  let last: KeyPart[] | undefined;
  let printed = 0;
  let cursor: string | undefined;
  while (true) {
    let page;
    try {
      page = await server.scan(view, prefix, Math.max(1, Math.min(PAGE, limit - printed)), cursor);
    } catch (err) {
      if (version === undefined && isStrataError(err, 'STRATA_E_VIEW_NOT_FOUND')) return {};
      if (isStrataError(err, 'STRATA_E_SERVE_UNAVAILABLE'))
        return version === undefined ? {} : { version, ...(last ? { last } : {}), printed };
      throw err;
    }
    if (version !== undefined && page.version !== version)
      return { version, ...(last ? { last } : {}), printed };
    version = page.version;
    for (const entry of page.entries) {
      if (printed >= limit) return 'done';
      await out.line(entry);
      last = entry[0];
      printed++;
    }
    if (printed >= limit || page.cursor === undefined) return 'done';
    cursor = page.cursor;
  }
}

async function withStore(
  target: ClusterTarget,
  use: (store: ObjectStore) => Promise<void>,
): Promise<void> {
  const store = await openTargetStore(target);
  try {
    await use(store);
  } finally {
    await store.close();
  }
}

/** NDJSON to stdout in ~64 KiB writes, waiting for the pipe to drain. */
class LineWriter {
  #batch = '';

  async line(entry: unknown): Promise<void> {
    this.#batch += `${JSON.stringify(entry)}\n`;
    if (this.#batch.length >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = '';
    if (batch && !process.stdout.write(batch))
      await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}
