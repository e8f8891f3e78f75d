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
 */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.ts';
import { formatKey, type KeyPart } from '../../core/keys/key-codec.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { openTargetStore, resolveTarget, withTargetOptions, type TargetFlags } from '../cluster/cluster-target.ts';

export interface KeyFlags {
  string?: boolean;
  version?: string;
}

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** Command-line key parts to a key tuple (see the rules above). */
export function parseKeyParts(parts: readonly string[], options: { string?: boolean } = {}): KeyPart[] {
  return parts.map((p) => {
    if (options.string) return p;
    if (p.length >= 2 && p.startsWith('"') && p.endsWith('"')) {
      try {
        const s: unknown = JSON.parse(p);
        if (typeof s === 'string') return s;
      } catch {
        // not a JSON string: the part is taken as written
      }
      return p;
    }
    if (JSON_NUMBER.test(p)) {
      const n = Number(p);
      if (Number.isFinite(n)) return n;
    }
    return p;
  });
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
      .argument('<key...>', 'the key, one argument per part: number-looking parts are numbers unless --string or "quoted"'),
  );
  withTargetOptions(cmd, { coordinator: false }).action(async (view: string, parts: string[], flags: TargetFlags & KeyFlags) => {
    const key = parseKeyParts(parts, flags);
    const store = await openTargetStore(await resolveTarget(flags));
    try {
      const reader = await ViewReader.open(store, view, flags.version ? { version: flags.version } : {});
      try {
        const value = await reader.get(key);
        if (value === undefined) {
          const alternative = parts.some((p, i) => typeof key[i] === 'number' || p !== key[i]) ? parseKeyParts(parts, { string: true }) : undefined;
          const hint = alternative && (await reader.get(alternative)) !== undefined ? `; the key ${formatKey(alternative)} (all strings) exists: add --string` : '';
          throw new StrataError('STRATA_E_KEY_NOT_FOUND', `view "${view}" (version ${reader.version}) has no key ${formatKey(key)}${hint || '; list keys with strata scan ' + view + ' <first part>'}`, {
            details: { view, version: reader.version, key },
          });
        }
        process.stdout.write(`${JSON.stringify(value)}\n`);
      } finally {
        await reader.close();
      }
    } finally {
      await store.close();
    }
  });
}
