/**
 * Name and date rules shared by jobs, views and datasets.
 *
 *   isValidName('web-analytics_2') // true
 *   isValidDate('2024-02-30')      // false
 */

/** Job, view and dataset names: safe in store keys, URLs and Redis keys. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const NAME_RULE =
  'lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 64 characters';

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/** A real calendar date written 'YYYY-MM-DD'. */
export function isValidDate(date: unknown): date is string {
  if (typeof date !== 'string') return false;
  const m = DATE_PATTERN.exec(date);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === date;
}

/** The closest of `candidates` to `word` when it looks like a typo of it (edit distance ≤ 2). */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length]!;
}
