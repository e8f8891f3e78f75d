/**
 * Small, pure, stable hashes over bytes: MurmurHash3 x86_32 and the first 64 bits of MurmurHash3
 * x86_128.
 *
 *   const h = hash32(encodeKey(['/home']));         // 0 ≤ h < 2^32
 *   const [hi, lo] = hash64Halves(bytes);            // two 32-bit halves, no BigInt on the hot path
 *   const big = hash64(bytes);                       // the same 64 bits as a bigint
 *
 * Why these: partitioning and the view files' bloom filters persist decisions made from a hash, so
 * the function must give the same answer in every process, thread and release; MurmurHash3 is a
 * published algorithm with reference vectors (Python `mmh3` agrees, see
 * test/core/keys/hash.test.ts),
 * uses only 32-bit arithmetic (fast in JavaScript, no BigInt) and spreads well. Not for security.
 * Pure and dependency-free: `jobs/` and user bundles import it (the HyperLogLog aggregator uses
 * hash64).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Reads 4 bytes little-endian; MurmurHash3 defines its blocks that way. */
function word(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

/** MurmurHash3 x86_32 of `bytes`: an unsigned 32-bit integer. */
export function hash32(bytes: Uint8Array, seed = 0): number {
  const len = bytes.length;
  const blocks = len & ~3;
  let h = seed >>> 0;
  for (let i = 0; i < blocks; i += 4) {
    let k = Math.imul(word(bytes, i), C1);
    k = Math.imul(rotl(k, 15), C2);
    h ^= k;
    h = (Math.imul(rotl(h, 13), 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = bytes[blocks]!;
    if (rest > 1) k |= bytes[blocks + 1]! << 8;
    if (rest > 2) k |= bytes[blocks + 2]! << 16;
    h ^= Math.imul(rotl(Math.imul(k, C1), 15), C2);
  }
  return fmix32(h ^ len);
}

const D1 = 0x239b961b;
const D2 = 0xab0e9789;
const D3 = 0x38b34ae5;
const D4 = 0xa1e38b93;

function mixK(k: number, a: number, r: number, b: number): number {
  return Math.imul(rotl(Math.imul(k, a), r), b);
}

/**
 * The first 64 bits of MurmurHash3 x86_128, as [high, low] unsigned 32-bit halves
 * (the little-endian uint64 `mmh3.hash64(b, seed, x64arch=False)[0]` is `high * 2^32 + low`).
 */
export function hash64Halves(bytes: Uint8Array, seed = 0): [number, number] {
  const len = bytes.length;
  const blocks = len & ~15;
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  for (let i = 0; i < blocks; i += 16) {
    h1 ^= mixK(word(bytes, i), D1, 15, D2);
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 ^= mixK(word(bytes, i + 4), D2, 16, D3);
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 ^= mixK(word(bytes, i + 8), D3, 17, D4);
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 ^= mixK(word(bytes, i + 12), D4, 18, D1);
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  // The tail: up to 15 bytes, gathered into four little-endian lanes.
  const tail = len & 15;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  for (let j = tail - 1; j >= 0; j--) {
    const byte = bytes[blocks + j]!;
    const shift = (j & 3) * 8;
    if (j >= 12) k4 ^= byte << shift;
    else if (j >= 8) k3 ^= byte << shift;
    else if (j >= 4) k2 ^= byte << shift;
    else k1 ^= byte << shift;
  }
  if (tail > 12) h4 ^= mixK(k4, D4, 18, D1);
  if (tail > 8) h3 ^= mixK(k3, D3, 17, D4);
  if (tail > 4) h2 ^= mixK(k2, D2, 16, D3);
  if (tail > 0) h1 ^= mixK(k1, D1, 15, D2);

  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  return [h2 >>> 0, h1 >>> 0];
}

/** The first 64 bits of MurmurHash3 x86_128 as an unsigned bigint (see hash64Halves). */
export function hash64(bytes: Uint8Array, seed = 0): bigint {
  const [hi, lo] = hash64Halves(bytes, seed);
  return (BigInt(hi) << 32n) | BigInt(lo);
}
