/**
 * The event time of a record: the one rule for what a time field may hold, shared by `strata
 * ingest` and the speed layer.
 *
 *   eventTimeOf('2026-01-05T10:00:00.250+01:00')   // 1767603600250
 *   eventTimeOf(1767603600250)                      // 1767603600250 (epoch milliseconds)
 *   eventTimeOf(1767603600)                         // NaN: looks like epoch seconds
 *   explainBadEventTime(1767603600)                 // '… looks like epoch seconds; multiply by 1000 …'
 *
 * Accepted, and nothing else, so that no value is read two ways:
 * - an ISO-8601 / RFC 3339 string with a date, a time and an explicit offset
 *   (`2026-01-05T10:00:00Z`, `…T10:00:00.123456+05:30`, seconds optional), or a bare date
 *   `2026-01-05` (midnight UTC). A date-time without `Z` or an offset is rejected: it could be
 *   any time zone. Fractions finer than a millisecond are truncated.
 * - a number of epoch milliseconds: an integer in [1e11, 1e14), i.e. 1973-03-03 … 5138-11-16.
 *   Smaller numbers are most likely epoch seconds and larger ones micro- or nanoseconds, so both
 *   are rejected with a hint rather than silently misread. Numeric strings are rejected too.
 */

export const EPOCH_MS_MIN = 1e11;
export const EPOCH_MS_MAX = 1e14;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Event time in ms since the epoch, or NaN when the value is not an accepted time (see
 * explainBadEventTime).
 */
export function eventTimeOf(value: unknown): number {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= EPOCH_MS_MIN && value < EPOCH_MS_MAX ? value : NaN;
  if (typeof value === 'string') return parseIso(value);
  return NaN;
}

// Hand-rolled over char codes: this runs once per ingested record, and a regex costs several times
// more.
function parseIso(s: string): number {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN; // '-'
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 100 || month < 1 || month > 12 || day < 1) return NaN; // Date.UTC maps years 0-99 to 1900-1999
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS[month - 1]!)) return NaN;
  if (n === 10) return Date.UTC(year, month - 1, day);
  // THH:MM[:SS[.fraction]] then Z or ±HH:MM: a date-time always needs its offset.
  if (n < 17 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58) return NaN; // 'T', ':'
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  let i = 16;
  let second = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    second = digits(s, i + 1, 2);
    i += 3;
    if (s.charCodeAt(i) === 46) {
      // '.': 1-9 fraction digits, truncated to milliseconds
      let k = i + 1;
      let scale = 100;
      while (k < n && k - i <= 9) {
        const c = s.charCodeAt(k) - 48;
        if (c < 0 || c > 9) break;
        ms += c * scale;
        scale /= 10;
        k++;
      }
      if (k === i + 1) return NaN;
      ms = Math.floor(ms);
      i = k;
    }
  }
  if (!(hour <= 23 && minute <= 59 && second <= 59)) return NaN; // also catches NaN
  let offset: number;
  const z = s.charCodeAt(i);
  if (z === 90 && i + 1 === n)
    offset = 0; // 'Z'
  else if ((z === 43 || z === 45) && i + 6 === n && s.charCodeAt(i + 3) === 58) {
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (!(oh <= 23 && om <= 59)) return NaN;
    offset = (z === 45 ? -1 : 1) * (oh * 60 + om) * 60_000;
  } else return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset;
}

/** The decimal number in s[at, at+len), or NaN if any of those is not a digit. */
function digits(s: string, at: number, len: number): number {
  let v = 0;
  for (let k = at; k < at + len; k++) {
    const c = s.charCodeAt(k) - 48;
    if (!(c >= 0 && c <= 9)) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/** Why eventTimeOf(value) is NaN, in words a user can act on. */
export function explainBadEventTime(value: unknown): string {
  if (value === null || value === undefined) return `is ${value === null ? 'null' : 'missing'}`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `is ${value}, not a time`;
    if (!Number.isInteger(value)) return `is ${value}: epoch milliseconds must be a whole number`;
    if (value >= 1e8 && value < EPOCH_MS_MIN)
      return `is ${value}, which looks like epoch seconds; times must be epoch milliseconds (multiply by 1000) or ISO-8601 strings`;
    if (value >= EPOCH_MS_MAX)
      return `is ${value}, which looks like epoch micro- or nanoseconds; times must be epoch milliseconds (divide by 1000 or 1000000) or ISO-8601 strings`;
    return `is ${value}, outside the accepted epoch-millisecond range [1e11, 1e14) (1973–5138); use an ISO-8601 string for other dates`;
  }
  if (typeof value === 'string') {
    if (/^\s*-?\d+(\.\d+)?\s*$/.test(value))
      return `is the string ${JSON.stringify(value)}; give epoch milliseconds as a JSON number, or an ISO-8601 string`;
    if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value))
      return `is ${JSON.stringify(value)}, a date-time without a time zone; add "Z" or an offset such as "+02:00"`;
    return `is ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}, not an ISO-8601 time such as "2026-01-05T10:00:00Z" or a valid calendar date`;
  }
  return `is ${Array.isArray(value) ? 'an array' : typeof value}, not an ISO-8601 string or a number of epoch milliseconds`;
}
