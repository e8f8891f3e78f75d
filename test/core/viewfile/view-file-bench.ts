/**
 * Measures a 1M-key view file on local disk: write time, size, bloom false-positive rate and
 * lookups per second. Not part of the test suite (it takes ~a minute):
 *
 *   npx tsx test/core/viewfile/view-file-bench.ts [entries]
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyPart } from '../../../core/keys/key-codec.ts';
import { BlockCache } from '../../../core/viewfile/block-cache.ts';
import { fileSource } from '../../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../../core/viewfile/view-file-reader.ts';
import { writeViewFile } from '../../../core/viewfile/view-file-writer.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const urls = Math.ceil(total / 24);
// Sorted by construction: zero-padded row keys, hours 0..23 (numbers sort by value).
function* entries(): Generator<[KeyPart[], unknown]> {
  for (let u = 0; u < urls; u++) {
    const url = `https://example.com/page/${String(u).padStart(7, '0')}`;
    for (let h = 0; h < 24 && u * 24 + h < total; h++)
      yield [[url, h], { views: (u * 31 + h) % 1000, uniques: (u + h) % 97 }];
  }
}
const keyOf = (i: number): KeyPart[] => [
  `https://example.com/page/${String(Math.floor(i / 24)).padStart(7, '0')}`,
  i % 24,
];

let seed = 12345;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;

async function timed<T>(label: string, n: number, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const out = await fn();
  const s = (performance.now() - t) / 1000;
  console.log(
    `${label}: ${n.toLocaleString()} in ${s.toFixed(2)} s = ${Math.round(n / s).toLocaleString()}/s`,
  );
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'strata-viewfile-bench-'));
try {
  const path = join(dir, 'part-0.sv');
  const summary = await timed('write', total, () => writeViewFile(entries(), path));
  console.log(
    `file: ${(summary.bytes / 2 ** 20).toFixed(1)} MiB, ${summary.blocks} blocks, ${(summary.bytes / total).toFixed(1)} B/entry`,
  );

  const t0 = performance.now();
  const reader = await ViewFileReader.open(await fileSource(path));
  console.log(`open: ${(performance.now() - t0).toFixed(1)} ms`);

  const n = 100_000;
  await timed('random present lookups, one at a time', n, async () => {
    for (let i = 0; i < n; i++)
      if ((await reader.get(keyOf(Math.floor(random() * total)))) === undefined)
        throw new Error('missing');
  });
  console.log(`  block reads per lookup: ${(reader.stats.blockReads / n).toFixed(3)}`);

  await timed('random present lookups, 32 in flight', n, async () => {
    for (let i = 0; i < n; i += 32)
      await Promise.all(
        Array.from({ length: 32 }, () => reader.get(keyOf(Math.floor(random() * total)))),
      );
  });

  const before = { ...reader.stats };
  const absent = 1_000_000;
  await timed('absent lookups (inside the key range)', absent, async () => {
    for (let i = 0; i < absent; i++)
      if ((await reader.get([keyOf(i % total)[0]!, (i % 24) + 0.5])) !== undefined)
        throw new Error('found');
  });
  const reads = reader.stats.blockReads - before.blockReads;
  const negatives = reader.stats.bloomNegatives - before.bloomNegatives;
  console.log(
    `bloom false-positive rate: ${((100 * reads) / (reads + negatives)).toFixed(3)}% (${reads} of ${reads + negatives})`,
  );

  const cached = await ViewFileReader.open(await fileSource(path), {
    cache: new BlockCache(64 * 2 ** 20),
  });
  for (let i = 0; i < total; i += 400) await cached.get(keyOf(i)); // warm: one lookup per block or so
  await timed('random present lookups, 64 MiB block cache (warm)', n, async () => {
    for (let i = 0; i < n; i++) await cached.get(keyOf(Math.floor(random() * total)));
  });

  await timed('full scan', total, async () => {
    let count = 0;
    for await (const _ of reader.entries()) count++;
    if (count !== total) throw new Error(`scanned ${count}`);
  });
  await reader.close();
  await cached.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
