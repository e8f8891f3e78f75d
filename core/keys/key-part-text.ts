/**
 * How a key part written as text (a command-line argument, a URL path segment) becomes a key part,
 * one rule for `strata get`/`scan` and the view server, so the two can never disagree.
 *
 *   keyPartFromText('2024')     // 2024      (written like a JSON number)
 *   keyPartFromText('02139')    // '02139'   (a leading zero is not a JSON number)
 *   keyPartFromText('"42"')     // '42'      (a part in double quotes is the string inside)
 *   keyPartFromText('42', true) // '42'      (every part a string)
 */
import type { KeyPart } from './key-codec.ts';

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

export function keyPartFromText(text: string, allStrings = false): KeyPart {
  if (allStrings) return text;
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    try {
      const s: unknown = JSON.parse(text);
      if (typeof s === 'string') return s;
    } catch {
      // not a JSON string: the part is taken as written
    }
    return text;
  }
  if (JSON_NUMBER.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n)) return n;
  }
  return text;
}
