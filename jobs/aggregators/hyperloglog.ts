/**
 * HyperLogLog register arithmetic and cardinality estimation, on 52-bit hashes held as JS numbers.
 *
 *   const regs = new Uint8Array(1 << 14);
 *   addHash(regs, 14, h52);          // h52: an integer in [0, 2^52)
 *   estimateCardinality(regs, 14);   // ≈ number of distinct hashes added
 *
 * Why 52 bits: they fit a float64 exactly, so the sparse (exact) form of `distinct()` can keep
 * whole hashes as plain numbers and turn them into registers later with the very same result as
 * adding them to registers directly. With precision p the first p bits pick a register and the
 * other 52 - p bits give the rank, so register values lie in 0..53 - p.
 *
 * The estimate is Ertl's "improved" estimator (O. Ertl, New cardinality estimation algorithms for
 * HyperLogLog sketches, 2017): it corrects both the small range (where it behaves like linear
 * counting) and the large range analytically, with no empirical bias tables, and keeps the
 * standard error near 1.04 / sqrt(2^p) across the whole range.
 */

export const HASH_BITS = 52;
const TWO_POW_20 = 2 ** 20;

/** Combines two 32-bit hashes into one 52-bit hash (hi's 32 bits, then lo's top 20 bits). */
export function combineHash52(hi: number, lo: number): number {
  return (hi >>> 0) * TWO_POW_20 + ((lo >>> 0) >>> 12);
}

/** The register a 52-bit hash falls into. */
export function registerIndex(h52: number, p: number): number {
  return Math.floor(h52 / 2 ** (HASH_BITS - p));
}

/** 1 + the number of leading zeros of the hash's last 52 - p bits (53 - p when all are zero). */
export function registerRank(h52: number, p: number): number {
  const hi = Math.floor(h52 / TWO_POW_20) >>> 0;
  const lo20 = h52 % TWO_POW_20;
  const w = (hi << p) >>> 0;
  if (w !== 0) return Math.clz32(w) + 1;
  if (lo20 !== 0) return 32 - p + (Math.clz32(lo20) - 12) + 1;
  return HASH_BITS - p + 1;
}

export function addHash(registers: Uint8Array, p: number, h52: number): void {
  const idx = registerIndex(h52, p);
  const rank = registerRank(h52, p);
  if (rank > registers[idx]!) registers[idx] = rank;
}

/** Ertl's improved raw estimator over register values in 0..q+1, q = 52 - p. */
export function estimateCardinality(registers: Uint8Array, p: number): number {
  const m = registers.length;
  const q = HASH_BITS - p;
  const counts = new Float64Array(q + 2);
  for (let i = 0; i < m; i++) counts[registers[i]!]! += 1;
  if (counts[0] === m) return 0;
  let z = m * tau(1 - counts[q + 1]! / m);
  for (let k = q; k >= 1; k--) z = 0.5 * (z + counts[k]!);
  z += m * sigma(counts[0]! / m);
  return (m * m) / (2 * Math.LN2 * z);
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const before = z;
    z += x * y;
    y += y;
    if (z === before) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const before = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === before) return z / 3;
  }
}
