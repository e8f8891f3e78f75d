/**
 * `strata get <view> <key part…> [--string] [--version V]`: one value of a published view, as JSON.
 *
 *   $ strata get pageviews /home 2024-06-03T14
 *   412
 *   $ strata get sales-by-store 42 2024        # key [42, 2024]: both parts look like numbers
 *   $ strata get sales-by-store 42 '"2024"'    # key [42, '2024']: a JSON string is a string
 *   $ strata get zip-codes 02139 --string      # key ['02139']
 *
 * Key parts: keys are tuples of strings and numbers, and 7 and '7' are different keys. A part
 * that is written like a JSON number (-12, 3.5, 1e6; no leading zeros) is a number; anything else
 * is a string; a part in double quotes ("2024") is the string inside them; --string makes every
 * part a string. An unknown view is STRATA_E_VIEW_NOT_FOUND, a missing key STRATA_E_KEY_NOT_FOUND
 * (both exit 1), with a hint when the other reading of a number-looking part would have matched.
 *
 * With a view server known (--server, STRATA_SERVE_URL, or the one `strata dev` runs, named in
 * .strata/cluster.json) the value comes from it; when it does not answer, or does not serve the
 * view yet, the store is read instead, with the same output and errors. --no-server and
 * --version always read the store.
 */
import type { Command } from 'commander';
import { isStrataError, StrataError } from '../../core/errors.ts';
import { formatKey, type KeyPart } from '../../core/keys/key-codec.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { RealtimeSource } from '../../serving/realtime-merge.ts';
import {
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type ClusterTarget,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import { ViewServerClient } from '../cluster/view-server-client.ts';
import { keyPartFromText } from '../../core/keys/key-part-text.ts';

export interface KeyFlags {
  string?: boolean;
  version?: string;
}

/** Command-line key parts to a key tuple (see the rules above). */
export function parseKeyParts(
  parts: readonly string[],
  options: { string?: boolean } = {},
): KeyPart[] {
  return parts.map((p) => keyPartFromText(p, options.string));
}

export function withKeyOptions(cmd: Command): Command {
  return cmd
    .option('--string', 'read every key part as a string, even those that look like numbers')
    .option('--version <version>', 'read this committed version instead of the current one');
}

export function register(program: Command): void {
  const cmd = withKeyOptions(
    program
      .command('get')
      .description('print the value of one key of a published view, as JSON')
      .argument('<view>', 'the view name (strata views lists them)')
      .argument(
        '<key...>',
        'the key, one argument per part: number-looking parts are numbers unless --string or "quoted"',
      ),
  );
  withTargetOptions(cmd, { coordinator: false, server: true }).action(
    async (view: string, parts: string[], flags: TargetFlags & KeyFlags) => {
      const key = parseKeyParts(parts, flags);
      const target = await resolveTarget(flags);
      // The view server answers from the current version only; --version reads the store.
      if (
        target.serveUrl &&
        !flags.version &&
        (await getThroughServer(new ViewServerClient(target.serveUrl), view, key, parts))
      )
        return;
      const store = await openTargetStore(target);
      try {
        const reader = await ViewReader.open(
          store,
          view,
          flags.version ? { version: flags.version } : {},
        );
        try {
          if (reader.manifest.job.realtime) {
            await getRealtimeFromStore(target, store, reader, key);
            return;
          }
          const value = await reader.get(key);
          if (value === undefined) {
            const alternative = stringReading(key, parts);
            throw keyNotFound(
              view,
              reader.version,
              key,
              alternative !== undefined && (await reader.get(alternative)) !== undefined
                ? alternative
                : undefined,
            );
          }
          process.stdout.write(`${JSON.stringify(value)}\n`);
        } finally {
          await reader.close();
        }
      } finally {
        await store.close();
      }
    },
  );
}

/**
 * Answers through the view server; false when the store must answer instead: the server does
 * not answer, or does not (yet) serve the view — a view published a moment ago, or never, which
 * the store then says in the same words as without a server.
 */
async function getThroughServer(
  server: ViewServerClient,
  view: string,
  key: KeyPart[],
  parts: readonly string[],
): Promise<boolean> {
  try {
    const hit = await server.get(view, key);
    if (!hit.found) {
      const alternative = stringReading(key, parts);
      const other = alternative ? await server.get(view, alternative) : undefined;
      throw keyNotFound(
        view,
        hit.version,
        key,
        other?.found && other.version === hit.version ? alternative : undefined,
      );
    }
    process.stdout.write(`${JSON.stringify(hit.value)}\n`);
    return true;
  } catch (err) {
    if (
      isStrataError(err, 'STRATA_E_SERVE_UNAVAILABLE') ||
      isStrataError(err, 'STRATA_E_VIEW_NOT_FOUND')
    )
      return false;
    throw err;
  }
}

/** The all-strings reading of the parts, when it differs from `key` (the --string hint). */
function stringReading(key: readonly KeyPart[], parts: readonly string[]): KeyPart[] | undefined {
  return parts.some((p, i) => typeof key[i] === 'number' || p !== key[i])
    ? parseKeyParts(parts, { string: true })
    : undefined;
}

function keyNotFound(
  view: string,
  version: string,
  key: KeyPart[],
  existingAlternative: KeyPart[] | undefined,
): StrataError {
  const hint = existingAlternative
    ? `; the key ${formatKey(existingAlternative)} (all strings) exists: add --string`
    : `; list keys with strata scan ${view} <first part>`;
  return new StrataError(
    'STRATA_E_KEY_NOT_FOUND',
    `view "${view}" (version ${version}) has no key ${formatKey(key)}${hint}`,
    { details: { view, version, key } },
  );
}

/**
 * A realtime view without a view server: the stored version holds accumulators up to its
 * boundary, so the answer needs the realtime buckets from the cluster's Redis too (never the
 * batch half alone, which would silently miss recent events).
 */
async function getRealtimeFromStore(
  target: ClusterTarget,
  store: ObjectStore,
  reader: ViewReader,
  key: KeyPart[],
): Promise<void> {
  if (!target.redisUrl) {
    throw new StrataError(
      'STRATA_E_REALTIME_STATE',
      `view "${reader.view}" is a realtime view: its values are batch ⊕ realtime, and the realtime half is in the cluster's Redis; start a view server (strata serve) or give the Redis URL (--redis, or .strata/cluster.json from strata dev)`,
      { details: { view: reader.view, version: reader.version } },
    );
  }
  const redis = await connectRedis(target.redisUrl, { role: 'command', name: 'strata-get' });
  const codeDir = await mkdtemp(path.join(os.tmpdir(), 'strata-get-code-'));
  try {
    const merge = await new RealtimeSource({
      redis,
      prefix: target.redisPrefix,
      store,
      codeDir,
    }).forVersion(reader);
    const answer = await merge!.get(reader, key);
    if (!answer) throw keyNotFound(reader.view, reader.version, key, undefined);
    process.stdout.write(`${JSON.stringify(answer.value)}\n`);
  } finally {
    redis.disconnect();
    await rm(codeDir, { recursive: true, force: true });
  }
}
