/**
 * Which reduce partition a key belongs to.
 *
 *   partitionOf(['/home', 13], 8) === partitionOf(['/home', 14], 8);   // same row key, same partition
 *
 * Only the key's FIRST element (the row key) is hashed, so every key of one row ([url, hour],
 * [url, day] …) lands in one partition, where it is one contiguous range of the sorted view file.
 * The hash is MurmurHash3 x86_32 of the element's key encoding, so 7 and '7' differ and -0 is 0.
 * The answer is persisted (it decides which part-<r>.sv holds a key), so it must never change
 * between processes or releases: test/core/keys/partition.test.ts pins known answers.
 *
 * Pure and dependency-free: `jobs/` and user bundles import it.
 */

import { StrataError } from '../errors.ts';
import { hash32 } from './hash.ts';
import { encodeKey, type Key, type KeyPart } from './key-codec.ts';

/** The most partitions a view may have; the multiply-shift below is exact up to 2^21. */
export const MAX_PARTITIONS = 65536;

/**
 * The partition, 0 ≤ p < partitions, of the key's first element (STRATA_E_KEY_INVALID for a bad
 * key).
 */
export function partitionOf(key: Key, partitions: number): number {
  if (!Array.isArray(key) || key.length === 0) encodeKey(key); // throws the codec's own, explanatory error
  return partitionOfRow(key[0] as KeyPart, partitions);
}

/**
 * The partition of a row key (a key's first element); partitionOf(key, n) ===
 * partitionOfRow(key[0], n).
 */
export function partitionOfRow(row: KeyPart, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new StrataError(
      'STRATA_E_USAGE',
      `partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}`,
      {
        details: { partitions: String(partitions) },
      },
    );
  }
  const h = hash32(encodeKey([row]));
  // Multiply-shift instead of modulo: uses the hash's high bits and has no modulo bias.
  return Math.floor((h * partitions) / 4294967296);
}
