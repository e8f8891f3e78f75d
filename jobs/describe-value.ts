/**
 * Short, human descriptions of arbitrary values for error messages.
 *
 *   describeValue('x')          // "'x' (string)"
 *   describeValue({ a: 1 })     // "{"a":1} (object)"
 *   preview(record, 120)        // JSON, cut to 120 characters
 */

export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return value.name ? `the function ${value.name}` : 'a function';
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `${String(value)} (${typeof value})`;
  if (typeof value === 'symbol') return `${String(value)} (symbol)`;
  return `${preview(value, 60)} (${Array.isArray(value) ? 'array' : 'object'})`;
}

/** JSON of a value, shortened; never throws (cycles, BigInt and the like fall back to String). */
export function preview(value: unknown, max = 200): string {
  let text: string;
  try {
    text =
      JSON.stringify(value, (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? `[function]` : v,
      ) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
