/**
 * The empty plain task the batch benchmark sends through the pool to measure scheduling overhead.
 */
export function noop(i: number): number {
  return i;
}
