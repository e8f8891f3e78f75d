/**
 * Durations on the command line: `90s`, `10m`, `1h`, `500ms`, or a bare number of seconds.
 *
 *   parseDuration('10m', '--every')   // 600000
 *   parseDuration('off', '--every')   // null: never
 */
import { StrataError } from '../core/errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, flag: string): number | null {
  if (text === 'off' || text === 'never') return null;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!) : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new StrataError(
      'STRATA_E_USAGE',
      `${flag} ${JSON.stringify(text)} is not a duration; write e.g. 30s, 10m, 1h (or off)`,
      { details: { flag, value: text } },
    );
  }
  return ms;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return 'off';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
