/**
 * A quick estimate of the V8 heap a plain value occupies, for the map-side memory budget.
 *
 *   approxBytes(1)                  // 16
 *   approxBytes({ url: '/a', n: 2 }) // ~90
 *
 * Calibrated against heap growth on Node 20 (test/worker/map-buffer.test.ts checks it stays
 * within a factor of two of the truth for typical values): a heap number 16 bytes, a one-byte
 * string 16 + length (two-byte: 16 + 2·length), an array 16 + 8 per slot, an object 24 + 16 per
 * property, a Uint8Array ~100 + its bytes. Plain data only (what emit accepts).
 */
const TWO_BYTE = /[^\u0000-\u00ff]/;

export function approxBytes(value: unknown): number {
  switch (typeof value) {
    case 'number':
      return 16;
    case 'boolean':
    case 'undefined':
      return 8;
    case 'string':
      return 16 + (TWO_BYTE.test(value) ? 2 * value.length : value.length);
    case 'object': {
      if (value === null) return 8;
      if (value instanceof Uint8Array) return 100 + value.byteLength;
      if (value instanceof Date) return 48;
      if (Array.isArray(value)) {
        let n = 16 + 8 * value.length;
        for (const v of value) n += typeof v === 'number' ? 8 : approxBytes(v);
        return n;
      }
      let n = 24;
      for (const key in value) n += 16 + approxBytes((value as Record<string, unknown>)[key]);
      return n;
    }
    default:
      return 16;
  }
}
