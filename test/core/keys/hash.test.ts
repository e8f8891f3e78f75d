import { describe, expect, it } from 'vitest';
import { hash32, hash64, hash64Halves } from '../../../core/keys/hash.ts';

// Reference values from Python's mmh3 5.3 (the C MurmurHash3): mmh3.hash(b, seed, signed=False)
// and mmh3.hash64(b, seed, x64arch=False, signed=False)[0], for prefixes of one byte string so
// that every tail length (0..3 for x86_32, 0..15 for x86_128) and the block loops are covered.
const SOURCE = new Uint8Array([
  ...new TextEncoder().encode('0123456789abcdefghij'),
  0x00,
  0xff,
  0x80,
]);
const VECTORS: Array<
  [length: number, h32seed0: number, h32seedX: number, h64seed0: bigint, h64seed7: bigint]
> = [
  [0, 0x0, 0xebb6c228, 0x0n, 0xfb8489880d45d85en],
  [1, 0xd271c07f, 0xbd3a97ea, 0xa5eb34f80ab2409en, 0x52f2a4cee3d2b196n],
  [2, 0x61ec6600, 0x0c934099, 0x674f3b210f87acb4n, 0x3135a53e5b51cc0cn],
  [3, 0xec6cff8c, 0x6ac4ffb2, 0x4c13d78ecd94fea5n, 0x38aa982aff060f1an],
  [4, 0xd41994a0, 0xc7f814e1, 0x485d3536dc378fean, 0x56ccbd12670b35cfn],
  [5, 0x19d02170, 0x8eba21d2, 0x7b3b211635c5b3een, 0x53ec08f02d5f915bn],
  [7, 0x0aef31a8, 0xab2513b7, 0x86d15c02b708d0a1n, 0x2e854692aa97fc5bn],
  [8, 0x56831753, 0x7bc64fbe, 0x92160402aa22bf84n, 0xc1fbe21cf08043a9n],
  [11, 0xd47c2cce, 0x8ada4636, 0x921f15e438a2ed0fn, 0xb6f4fa00a3bb7304n],
  [12, 0x79d73dc7, 0xb23e293c, 0xb6982a7ecfaa93f9n, 0x67ff53cade5650c1n],
  [13, 0xf9f47291, 0x737d7ff3, 0xcc6d9d01c970af1dn, 0x37789d170791bf21n],
  [15, 0x862451fe, 0x94bb1a60, 0x4d0818c03c76c46dn, 0x05a17070f38f9654n],
  [16, 0x36c7e0df, 0x2ada2fcc, 0x36aed30afb7d4409n, 0x8476c26bc4e087f7n],
  [17, 0xe2ad6669, 0x2803b4b6, 0x516b38767f1f9836n, 0x2ac167c4da5262fen],
  [19, 0xec05d753, 0xa3fbe049, 0x18aa2a45b8957c75n, 0x8923b3e46a35568an],
  [23, 0xd74a671a, 0xe1441be1, 0xa998c2ae750cacd6n, 0x240f6779c69f9ce0n],
];

describe('hash', () => {
  it('hash32 is MurmurHash3 x86_32 (agrees with the reference implementation)', () => {
    for (const [n, h0, hx] of VECTORS) {
      expect(hash32(SOURCE.subarray(0, n)), `length ${n}`).toBe(h0);
      expect(hash32(SOURCE.subarray(0, n), 0x9747b28c), `length ${n}, seed 0x9747b28c`).toBe(hx);
    }
    expect(hash32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog'))).toBe(
      0x2e4ff723,
    );
  });

  it('hash64 is the first 64 bits of MurmurHash3 x86_128, and hash64Halves splits it', () => {
    for (const [n, , , h0, h7] of VECTORS) {
      expect(hash64(SOURCE.subarray(0, n)), `length ${n}`).toBe(h0);
      expect(hash64(SOURCE.subarray(0, n), 7), `length ${n}, seed 7`).toBe(h7);
      const [hi, lo] = hash64Halves(SOURCE.subarray(0, n), 7);
      expect((BigInt(hi) << 32n) | BigInt(lo)).toBe(h7);
    }
  });

  it('hashes are unsigned and depend on the bytes a view covers, not the buffer around it', () => {
    const big = new Uint8Array([9, 9, ...SOURCE, 9]);
    expect(hash32(big.subarray(2, 2 + SOURCE.length))).toBe(hash32(SOURCE));
    expect(hash64(big.subarray(2, 2 + SOURCE.length))).toBe(hash64(SOURCE));
    for (let i = 0; i < 1000; i++) {
      const h = hash32(new Uint8Array([i & 255, i >> 8]));
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });
});
