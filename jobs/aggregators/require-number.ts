/**
 * The one check numeric aggregators make on each value, so a string emitted into `sum()` fails
 * loudly instead of concatenating.
 *
 *   requireFiniteNumber('sum', value); // throws STRATA_E_JOB_VALUE for '3', NaN, Infinity, null
 */
import { StrataError } from '../../core/errors.ts';

/** The value itself, with -0 as 0 (msgpack does not keep the sign of zero, so neither do we). */
export function requireFiniteNumber(aggregator: string, value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value + 0;
  const got =
    typeof value === 'string'
      ? `the string ${JSON.stringify(value.slice(0, 40))}`
      : typeof value === 'number'
        ? String(value)
        : value === null
          ? 'null'
          : typeof value;
  throw new StrataError(
    'STRATA_E_JOB_VALUE',
    `${aggregator}() adds finite numbers, but the job emitted ${got}. Emit a number, e.g. emit(key, Number(record.amount)) or emit(key, 1).`,
    { details: { aggregator, valueType: value === null ? 'null' : typeof value } },
  );
}
