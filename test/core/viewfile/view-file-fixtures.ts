/** Shared arbitraries and the in-memory model that view file tests compare against. */

import fc from 'fast-check';
import { compareKeys, encodeKey, type Key, type KeyPart } from '../../../core/keys/key-codec.ts';
import { bytesSource } from '../../../core/viewfile/random-access-source.ts';
import { ViewFileReader, type ScanOptions } from '../../../core/viewfile/view-file-reader.ts';
import { memorySink } from '../../../core/viewfile/view-file-sink.ts';
import {
  writeViewFile,
  type ViewFileWriterOptions,
} from '../../../core/viewfile/view-file-writer.ts';

export type Entry = [KeyPart[], unknown];

// Row keys from a small pool so that many keys share a prefix (like [url, hour]), plus tricky
// strings.
const rowArb: fc.Arbitrary<KeyPart> = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((i) => `/page/${i}`),
  fc.constantFrom('', '\0', 'a', 'a\0', '😀', '\uffff', 'é'),
  fc.integer({ min: -20, max: 20 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
);
const restArb: fc.Arbitrary<KeyPart> = fc.oneof(
  fc.integer({ min: 0, max: 23 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('', '\0'),
);
export const keyArb: fc.Arbitrary<KeyPart[]> = fc
  .tuple(rowArb, fc.array(restArb, { maxLength: 2 }))
  .map(([r, rest]) => [r, ...rest]);

const scalarArb = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
  fc.string({ maxLength: 20 }),
);
export const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: scalarArb, weight: 6 },
  { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.array(scalarArb, { maxLength: 4 }), weight: 1 },
  {
    arbitrary: fc.dictionary(
      fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
      scalarArb,
      { maxKeys: 4 },
    ),
    weight: 1,
  },
  { arbitrary: fc.string({ minLength: 300, maxLength: 2000 }), weight: 1 }, // larger than a small block
);

export const entriesArb = (minLength: number, maxLength: number): fc.Arbitrary<Entry[]> =>
  fc
    .uniqueArray(fc.tuple(keyArb, valueArb), {
      minLength,
      maxLength,
      selector: ([k]) => Buffer.from(encodeKey(k)).toString('hex'),
    })
    .map((es) => es.sort((a, b) => compareKeys(a[0], b[0])) as Entry[]);

export async function openInMemory(
  entries: Entry[],
  options: ViewFileWriterOptions = {},
  cache?: number,
): Promise<{ reader: ViewFileReader; bytes: Uint8Array }> {
  const sink = memorySink();
  await writeViewFile(entries, sink, options);
  const bytes = sink.bytes();
  return {
    reader: await ViewFileReader.open(bytesSource(bytes), cache === undefined ? {} : { cache }),
    bytes,
  };
}

const extendsPrefix = (k: Key, p: Key) => k.length >= p.length && p.every((x, i) => x === k[i]);

/** What a scan must return, computed on the sorted array: the model of the reader. */
export function expectedScan(sorted: Entry[], o: ScanOptions): Entry[] {
  const asKey = (x: unknown): Key => (Array.isArray(x) ? x : [x as KeyPart]);
  const out = sorted.filter(([k]) => {
    if (o.prefix !== undefined && !extendsPrefix(k, asKey(o.prefix))) return false;
    if (o.start !== undefined && compareKeys(k, asKey(o.start)) < 0) return false;
    if (o.after !== undefined && compareKeys(k, asKey(o.after)) <= 0) return false;
    if (o.end !== undefined && compareKeys(k, asKey(o.end)) >= 0) return false;
    return true;
  });
  return o.limit === undefined ? out : out.slice(0, o.limit);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
