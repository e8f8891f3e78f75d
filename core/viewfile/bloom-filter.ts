/**
 * The view file's bloom filter: "is this key perhaps in the file?" without reading a block.
 *
 *   const hashes = new HashCollector();  for (const k of keys) hashes.add(bloomHash(k));
 *   const filter = BloomFilter.build(hashes.view(), 0.01);
 *   filter.mayContain(bloomHash(k));     // false means certainly absent
 *
 * The writer cannot size the filter before it knows the entry count, so it keeps one 32-bit hash
 * per key (4 bytes an entry) and builds the filter at the end. Bits per key and the number of
 * probes follow the textbook optimum (m = -n ln p / ln²2, k = m/n ln 2); the k probes come from
 * one hash by double hashing (Kirsch and Mitzenmacher). The hash is MurmurHash3 of the encoded key
 * with its own seed, so it is uncorrelated with partitionOf (which picked this file).
 */

import { hash32 } from '../keys/hash.ts';

/** Seed of the bloom hash; stored in the footer so a reader never guesses it. */
export const BLOOM_SEED = 0x5bd1e995;

export function bloomHash(encodedKey: Uint8Array, seed = BLOOM_SEED): number {
  return hash32(encodedKey, seed);
}

/** The second, odd probe stride: a re-mix of the first hash so the two are unrelated. */
function stride(h: number): number {
  let x = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39);
  return ((x ^ (x >>> 15)) | 1) >>> 0;
}

export class BloomFilter {
  private constructor(
    readonly bits: Uint8Array,
    /** Number of bits in use (m); `bits` holds ceil(m/8) bytes. */
    readonly size: number,
    /** Probes per key (k). */
    readonly hashes: number,
  ) {}

  static build(keyHashes: Uint32Array, falsePositiveRate: number): BloomFilter {
    const n = keyHashes.length;
    if (n === 0) return new BloomFilter(new Uint8Array(0), 0, 0);
    const size = Math.max(
      64,
      Math.ceil((-n * Math.log(falsePositiveRate)) / (Math.LN2 * Math.LN2)),
    );
    const hashes = Math.max(1, Math.min(30, Math.round((size / n) * Math.LN2)));
    const filter = new BloomFilter(new Uint8Array(Math.ceil(size / 8)), size, hashes);
    for (let i = 0; i < n; i++) filter.add(keyHashes[i]!);
    return filter;
  }

  static from(bits: Uint8Array, size: number, hashes: number): BloomFilter {
    return new BloomFilter(bits, size, hashes);
  }

  private add(h: number): void {
    const size = this.size;
    const step = stride(h) % size;
    // Bit i is (h + i * stride) mod size, stepped without a division per probe.
    for (
      let i = 0, bit = h % size;
      i < this.hashes;
      i++, bit = bit + step >= size ? bit + step - size : bit + step
    ) {
      this.bits[bit >>> 3]! |= 1 << (bit & 7);
    }
  }

  /** False means the key is certainly absent; true means it may be present. */
  mayContain(h: number): boolean {
    if (this.size === 0) return false;
    const size = this.size;
    const step = stride(h) % size;
    for (
      let i = 0, bit = h % size;
      i < this.hashes;
      i++, bit = bit + step >= size ? bit + step - size : bit + step
    ) {
      if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }
}

/** An append-only list of 32-bit hashes that grows by doubling. */
export class HashCollector {
  private buf = new Uint32Array(1024);
  private length = 0;

  add(h: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = h;
  }

  view(): Uint32Array {
    return this.buf.subarray(0, this.length);
  }
}
