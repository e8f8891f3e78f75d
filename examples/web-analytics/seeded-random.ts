/**
 * A small, fast, seeded PRNG for generators whose output must be the same on every machine.
 *
 *   const rand = sfc32(42);
 *   rand(); // a float in [0, 1), the same sequence for the same seed
 */

/** sfc32 (Chris Doty-Humphrey's small fast counter), seeded through splitmix32: [0, 1) floats. */
export function sfc32(seed: number): () => number {
  let s = seed >>> 0;
  const next32 = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next32();
  let b = next32();
  let c = next32();
  let d = next32();
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}
