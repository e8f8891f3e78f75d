import { describe, expect, it } from 'vitest';
import { runLocal } from 'strata';
import wordcount from '../../examples/wordcount/wordcount.ts';

const text = `The quick brown fox jumps over the lazy dog.
THE DOG barks; the fox runs!
  Don't panic: the 2 dogs and 1 fox don't bark.

Übermäßig große Füchse, the end`;

describe('wordcount example', () => {
  it('counts lowercased words per line record, agreeing with a straightforward count', async () => {
    const records = text.split('\n').map((line) => ({ line }));
    const rows = await runLocal(wordcount, records, { splitSize: 2 });
    const expected = new Map<string, number>();
    for (const word of text.toLowerCase().split(/[^\p{L}\p{N}']+/u)) {
      const w = word.replace(/^'+|'+$/g, '');
      if (w) expected.set(w, (expected.get(w) ?? 0) + 1);
    }
    expect(new Map(rows.map(([key, n]) => [key[0] as string, n]))).toEqual(expected);
    expect(Object.fromEntries(rows.map(([key, n]) => [key[0], n]))).toMatchObject({
      the: 6,
      fox: 3,
      "don't": 2,
      dog: 2,
      übermäßig: 1,
      '2': 1,
    });
  });

  it('is a job in well under 30 lines', async () => {
    const { readFileSync } = await import('node:fs');
    const source = readFileSync(
      new URL('../../examples/wordcount/wordcount.ts', import.meta.url),
      'utf8',
    );
    expect(source.trimEnd().split('\n').length).toBeLessThan(20);
    expect(source).toContain("from 'strata'");
  });
});
