/**
 * How `npm run chaos` judges a published version of the pageviews view: per-key counts against
 * the generated input (records lost, records counted twice) and its part files, byte for byte,
 * against the fault-free run's.
 *
 *   const expected = new ExpectedCounts();  expected.add(url, hour);        // while generating the input
 *   const v = await inspectVersion(store, 'pageviews', version, expected);
 *   v.lost; v.doubled; v.partHashes;                                         // compare partHashes across runs
 */
import { createHash } from 'node:crypto';
import { formatKey } from '../core/keys/key-codec.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { readManifest } from '../core/views/view-layout.ts';
import { ViewReader } from '../core/views/view-reader.ts';

/** What the view must hold: views per [url, hour], counted as the input is generated. */
export class ExpectedCounts {
  readonly counts = new Map<string, number>();
  total = 0;

  add(url: string, hour: string): void {
    const k = formatKey([url, hour]);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.total++;
  }
}

export interface VersionCheck {
  version: string;
  keys: number;
  /** Sum of every count in the view. */
  total: number;
  /** Input records missing from the view: Σ over keys of max(0, expected − found). */
  lost: number;
  /** Records counted more than once: Σ over keys of max(0, found − expected). */
  doubled: number;
  /** Keys the input never had. */
  unexpectedKeys: number;
  /** sha256 of each part file, by partition. */
  partHashes: string[];
  bytes: number;
}

export async function inspectVersion(
  store: ObjectStore,
  view: string,
  version: string,
  expected: ExpectedCounts,
): Promise<VersionCheck> {
  const manifest = await readManifest(store, view, version);
  const partHashes: string[] = [];
  let bytes = 0;
  for (const part of [...manifest.parts].sort((a, b) => a.partition - b.partition)) {
    const hash = createHash('sha256');
    for await (const chunk of await store.getStream(part.key)) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    partHashes.push(hash.digest('hex'));
  }
  const check: VersionCheck = {
    version,
    keys: 0,
    total: 0,
    lost: 0,
    doubled: 0,
    unexpectedKeys: 0,
    partHashes,
    bytes,
  };
  const seen = new Set<string>();
  const reader = await ViewReader.open(store, view, { version });
  try {
    for await (const [key, value] of reader.scan()) {
      const k = formatKey(key);
      const found = value as number;
      const want = expected.counts.get(k);
      check.keys++;
      check.total += found;
      seen.add(k);
      if (want === undefined) {
        check.unexpectedKeys++;
        check.doubled += found;
      } else if (found > want) check.doubled += found - want;
      else check.lost += want - found;
    }
  } finally {
    await reader.close();
  }
  for (const [k, want] of expected.counts) if (!seen.has(k)) check.lost += want;
  return check;
}
