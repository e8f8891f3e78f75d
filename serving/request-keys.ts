/**
 * How a view server request names keys, prefixes and scan positions.
 *
 *   GET /v1/views/pv/get/%2Fhome/2024          key ['/home', 2024]
 *   GET /v1/views/pv/get/zip/02139             key ['zip', '02139']  (leading zero: not a JSON number)
 *   GET /v1/views/pv/get/store/"42"            key ['store', '42']   (a quoted part is a string)
 *   GET /v1/views/pv/get/a/42?string=1         key ['a', '42']       (every part a string)
 *   GET /v1/views/pv/get?key=["/home",2024]    key ['/home', 2024]   (JSON: the exact types)
 *
 * Path parts follow `strata get`: each segment is percent-decoded on its own (so %2F is a '/'
 * inside a part), then a part written like a JSON number (-12, 3.5, 1e6; no leading zeros) is a
 * number, a part in double quotes is the JSON string inside them, anything else is the string
 * as written. `?key=` (JSON array) is the unambiguous form; it wins when both are given.
 * A scan cursor is the base64url of the last key's encoding: opaque to clients, exact to resume.
 */
import { StrataError } from '../core/errors.ts';
import { decodeKey, encodeKey, type KeyPart } from '../core/keys/key-codec.ts';
import { keyPartFromText } from '../core/keys/key-part-text.ts';

/** The key parts after `marker` (e.g. '/get/') in the raw request path; [] when there are none. */
export function pathParts(rawUrl: string, marker: string, allStrings: boolean): KeyPart[] {
  const pathOnly = rawUrl.split('?', 1)[0]!;
  const at = pathOnly.indexOf(marker);
  if (at < 0) return [];
  const rest = pathOnly.slice(at + marker.length);
  if (rest === '') return [];
  return rest.split('/').map((seg) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw new StrataError(
        'STRATA_E_KEY_INVALID',
        `the key part ${JSON.stringify(seg.slice(0, 80))} is not valid percent-encoded UTF-8; encode each part with encodeURIComponent`,
      );
    }
    return keyPartFromText(decoded, allStrings);
  });
}

/** A key (or prefix) given as a JSON array in a query parameter; checked by the key codec. */
export function jsonKeyParam(name: string, text: string, allowEmpty: boolean): KeyPart[] {
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch (err) {
    throw new StrataError(
      'STRATA_E_KEY_INVALID',
      `?${name}= must be a JSON array such as ["/home",2024]; got ${JSON.stringify(text.slice(0, 80))} (${(err as Error).message})`,
    );
  }
  return checkKey(key, allowEmpty, `?${name}=`);
}

/** A key from a JSON body or parameter: an array of strings and finite numbers that encodes. */
export function checkKey(key: unknown, allowEmpty: boolean, where: string): KeyPart[] {
  if (!Array.isArray(key))
    throw new StrataError(
      'STRATA_E_KEY_INVALID',
      `${where} must be a JSON array of strings and numbers, such as ["/home",2024]`,
    );
  if (key.length === 0 && allowEmpty) return [];
  encodeKey(key as KeyPart[]); // STRATA_E_KEY_INVALID naming the bad part, or a key over MAX_KEY_BYTES
  return key as KeyPart[];
}

export function encodeCursor(lastKey: Uint8Array): string {
  return Buffer.from(lastKey).toString('base64url');
}

export function decodeCursor(cursor: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(cursor, 'base64url'));
  try {
    if (bytes.length === 0 || Buffer.from(bytes).toString('base64url') !== cursor)
      throw new Error('not base64url');
    decodeKey(bytes);
  } catch {
    throw new StrataError(
      'STRATA_E_USAGE',
      `the cursor ${JSON.stringify(cursor.slice(0, 80))} is not one this server gave; pass the "cursor" of the previous page unchanged`,
    );
  }
  return bytes;
}
