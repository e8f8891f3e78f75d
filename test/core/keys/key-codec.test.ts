import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import {
  compareBytes,
  compareKeys,
  decodeKey,
  encodeKey,
  MAX_KEY_BYTES,
  prefixRange,
  toKey,
  type Key,
  type KeyPart,
} from '../../../core/keys/key-codec.ts';

// Strings and numbers chosen to hit the encoding's edges: NUL (escaped), 0xFF-adjacent UTF-8,
// BMP characters above the surrogate range (UTF-16 order differs from code point order there),
// astral characters, the empty string; numbers at ±0, the extremes and subnormals.
const TRICKY_STRINGS = [
  '',
  '\0',
  '\ufeff',
  '\ufeffa',
  '\0\0',
  'a',
  'a\0',
  'a\0b',
  'a\x01',
  'ab',
  '\x7f',
  '\x80',
  'é',
  '\ud7ff',
  '\ue000',
  '\uffff',
  '😀',
  '\u{10000}',
  '\u{10ffff}',
];
const TRICKY_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  -0.1,
  2 ** 53,
  -(2 ** 53),
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  1e-300,
  -1e300,
];

const stringArb = fc.oneof(
  fc.constantFrom(...TRICKY_STRINGS),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({
    unit: fc.constantFrom('a', 'b', '\0', '\u00ff', '\uffff', '\ue000', '😀', '\u{10ffff}'),
    maxLength: 4,
  }),
);
const numberArb = fc.oneof(
  fc.constantFrom(...TRICKY_NUMBERS),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const partArb: fc.Arbitrary<KeyPart> = fc.oneof(stringArb, numberArb);
const keyArb = fc.array(partArb, { minLength: 1, maxLength: 4 });
// Pairs that often share a prefix, so comparisons reach deep elements and prefix cases.
const keyPairArb = fc
  .tuple(
    fc.array(partArb, { maxLength: 3 }),
    fc.array(partArb, { maxLength: 3 }),
    fc.array(partArb, { maxLength: 3 }),
  )
  .filter(([p, a, b]) => p.length + a.length > 0 && p.length + b.length > 0)
  .map(
    ([p, a, b]) =>
      [
        [...p, ...a],
        [...p, ...b],
      ] as const,
  );

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
const normalize = (k: Key) => k.map((p) => (p === 0 ? 0 : p));

/**
 * The tuple order, written from its definition (code points via the string iterator), independent
 * of the codec.
 */
function referenceCompare(a: Key, b: Key): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
    if (typeof x === 'number') {
      if (x !== y) return x < (y as number) ? -1 : 1;
      continue;
    }
    const cx = Array.from(x, (c) => c.codePointAt(0)!);
    const cy = Array.from(y as string, (c) => c.codePointAt(0)!);
    for (let j = 0; j < Math.min(cx.length, cy.length); j++)
      if (cx[j] !== cy[j]) return cx[j]! < cy[j]! ? -1 : 1;
    if (cx.length !== cy.length) return cx.length < cy.length ? -1 : 1;
  }
  return sign(a.length - b.length);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.length <= bytes.length && prefix.every((b, i) => bytes[i] === b);
}

function expectKeyInvalid(fn: () => unknown, messagePart?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isStrataError(err, 'STRATA_E_KEY_INVALID'), String(err)).toBe(true);
    if (messagePart) expect((err as Error).message).toMatch(messagePart);
    return;
  }
  expect.unreachable('expected STRATA_E_KEY_INVALID');
}

describe('key codec', () => {
  it('decodeKey(encodeKey(k)) gives k back, with -0 as 0', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const back = decodeKey(encodeKey(k));
        expect(back).toEqual(normalize(k));
        back.forEach((p) => expect(Object.is(p, -0)).toBe(false));
      }),
      { numRuns: 3000 },
    );
  });

  it('compareKeys is the sign of compareBytes of the encodings, and both are the tuple order', () => {
    fc.assert(
      fc.property(keyPairArb, ([a, b]) => {
        const byTuple = compareKeys(a, b);
        expect(byTuple).toBe(compareBytes(encodeKey(a), encodeKey(b)));
        expect(byTuple).toBe(referenceCompare(a, b));
        expect(compareKeys(b, a)).toBe(-byTuple || 0);
      }),
      { numRuns: 5000 },
    );
  });

  it('sorting by compareKeys and sorting by encoded bytes give the same list', () => {
    const keys = [...TRICKY_STRINGS, ...TRICKY_NUMBERS].flatMap(
      (x) => [[x], [x, 'z'], [x, 0], ['p', x]] as KeyPart[][],
    );
    const byTuple = [...keys]
      .sort(compareKeys)
      .map((k) => Buffer.from(encodeKey(k)).toString('hex'));
    const byBytes = keys
      .map((k) => encodeKey(k))
      .sort(compareBytes)
      .map((b) => Buffer.from(b).toString('hex'));
    expect(byTuple).toEqual(byBytes);
  });

  it('numbers sort before strings, by value; -0 equals 0; astral characters sort after U+FFFF', () => {
    expect(compareKeys([Number.MAX_VALUE], [''])).toBe(-1);
    expect(compareKeys([-1e300], [-1])).toBe(-1);
    expect(compareKeys([-0], [0])).toBe(0);
    expect(compareBytes(encodeKey([-0]), encodeKey([0]))).toBe(0);
    expect(compareKeys(['\uffff'], ['😀'])).toBe(-1); // '\uffff' > '😀' in UTF-16 order
    expect(compareKeys(['a'], ['a\0'])).toBe(-1);
    expect(compareKeys(['a', 99], ['a\0'])).toBe(-1);
    expect(compareKeys(['a'], ['a', 1])).toBe(-1);
  });

  it('the encoding of a prefix tuple is a byte prefix of every extension', () => {
    fc.assert(
      fc.property(keyArb, fc.array(partArb, { maxLength: 3 }), (p, ext) => {
        expect(startsWith(encodeKey([...p, ...ext]), encodeKey(p))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('prefixRange holds exactly the keys that extend the prefix', () => {
    const extends_ = (k: Key, p: Key) => k.length >= p.length && p.every((x, i) => x === k[i]);
    fc.assert(
      fc.property(keyPairArb, ([p, k]) => {
        const { start, end } = prefixRange(p);
        const e = encodeKey(k);
        const inside =
          compareBytes(start, e) <= 0 && (end === undefined || compareBytes(e, end) < 0);
        expect(inside).toBe(extends_(k, p));
      }),
      { numRuns: 5000 },
    );
    // A longer string that merely starts with the prefix's string is not an extension.
    const { start, end } = prefixRange(['a']);
    for (const k of [['a\0'], ['a\0', 1], ['ab'], ['a\0\0']])
      expect(compareBytes(encodeKey(k), end!) >= 0 || compareBytes(encodeKey(k), start) < 0).toBe(
        true,
      );
    expect(prefixRange([])).toEqual({ start: new Uint8Array(0), end: undefined });
  });

  it('bad keys fail with STRATA_E_KEY_INVALID naming the element and its position', () => {
    expectKeyInvalid(() => encodeKey([]), /at least one element/);
    expectKeyInvalid(() => encodeKey('x' as unknown as Key), /must be an array/);
    expectKeyInvalid(
      () => encodeKey(['a', 1, Number.NaN]),
      /element 2 is the non-finite number NaN/,
    );
    expectKeyInvalid(
      () => encodeKey([Number.POSITIVE_INFINITY]),
      /element 0 is the non-finite number Infinity/,
    );
    expectKeyInvalid(
      () => encodeKey(['a', Number.NEGATIVE_INFINITY]),
      /element 1 is the non-finite number -Infinity/,
    );
    expectKeyInvalid(() => encodeKey(['a', null] as unknown as Key), /element 1 is null/);
    expectKeyInvalid(() => encodeKey([undefined] as unknown as Key), /element 0 is undefined/);
    expectKeyInvalid(() => encodeKey([true] as unknown as Key), /element 0 is a boolean/);
    expectKeyInvalid(() => encodeKey([{}] as unknown as Key), /element 0 is an object/);
    expectKeyInvalid(() => encodeKey([['nested']] as unknown as Key), /element 0 is an array/);
    expectKeyInvalid(() => encodeKey([1n] as unknown as Key), /element 0 is the bigint 1n/);
    expectKeyInvalid(() => encodeKey([new Date(0)] as unknown as Key), /element 0 is a Date/);
    expectKeyInvalid(() => encodeKey(['ok', 'x\ud800y']), /element 1 .*lone UTF-16 surrogate/);
    expectKeyInvalid(() => encodeKey(['\udc00']), /lone UTF-16 surrogate/);
    expectKeyInvalid(() => toKey(Number.NaN), /element 0/);
  });

  it('keys are at most 4 KiB encoded', () => {
    expect(encodeKey(['a'.repeat(MAX_KEY_BYTES - 2)])).toHaveLength(MAX_KEY_BYTES);
    expectKeyInvalid(() => encodeKey(['a'.repeat(MAX_KEY_BYTES - 1)]), /longer than 4096 bytes/);
    expectKeyInvalid(() => encodeKey(['😀'.repeat(1100)]), /longer than 4096 bytes/);
    expectKeyInvalid(() => encodeKey(['\0'.repeat(2100)]), /longer than 4096 bytes/);
    expectKeyInvalid(
      () => encodeKey(Array.from({ length: 456 }, (_, i) => i)),
      /longer than 4096 bytes/,
    );
    expect(encodeKey(Array.from({ length: 455 }, (_, i) => i))).toHaveLength(455 * 9);
  });

  it('decodeKey rejects bytes that are not an encoded key', () => {
    expectKeyInvalid(() => decodeKey(new Uint8Array(0)), /empty/);
    expectKeyInvalid(() => decodeKey(new Uint8Array([0x07])), /unknown tag 0x7 at byte 0/);
    expectKeyInvalid(() => decodeKey(encodeKey([1.5]).subarray(0, 5)), /cut short/);
    expectKeyInvalid(() => decodeKey(encodeKey(['abc']).subarray(0, 3)), /no terminator/);
    expectKeyInvalid(() => decodeKey(new Uint8Array([0x40, 0xc3, 0x41, 0x00])), /not valid UTF-8/);
  });

  it('toKey makes a scalar a 1-tuple, keeps tuples, and normalizes -0', () => {
    expect(toKey('/home')).toEqual(['/home']);
    expect(toKey(7)).toEqual([7]);
    const k = ['/home', 3] as const;
    expect(toKey(k)).toBe(k);
    expect(Object.is(toKey(['x', -0])[1], 0)).toBe(true);
  });
});
