/**
 * Dataset names: what may follow `master/` in the store.
 *
 *   assertDatasetName('pageviews');   // fine
 *   assertDatasetName('Page Views');  // throws STRATA_E_DATASET_NAME
 */
import { StrataError } from '../errors.ts';

/**
 * Lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters.
 */
export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function isDatasetName(name: unknown): name is string {
  return typeof name === 'string' && DATASET_NAME_PATTERN.test(name);
}

export function assertDatasetName(name: unknown): asserts name is string {
  if (isDatasetName(name)) return;
  const hint =
    typeof name === 'string' && name.length > 0 ? `; try ${JSON.stringify(suggest(name))}` : '';
  throw new StrataError(
    'STRATA_E_DATASET_NAME',
    `dataset name ${JSON.stringify(name)} is invalid: use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit${hint}`,
    { details: { name } },
  );
}

function suggest(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 64);
  return s || 'events';
}
