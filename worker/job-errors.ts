/**
 * The errors a job's own code causes on a worker, worded as runLocal words them
 * (jobs/run-local.ts),
 * so a failure reads the same in a unit test and on the cluster.
 *
 *   const errors = new JobErrors(job);
 *   const acc = errors.guard(key, 'the aggregator sum() failed to merge', () => agg.merge(a, b));
 *   errors.checkOutput(key, 'reduce', value);     // STRATA_E_JOB_VALUE for undefined or non-plain data
 *
 * `own` marks errors we raise inside a user callback (emit is ours, but map calls it), so the
 * wrapper around that callback passes them on instead of wrapping them a second time.
 */
import {
  ERROR_CODES,
  errorMessage,
  StrataError,
  type ErrorCode,
  type StrataErrorJSON,
} from '../core/errors.ts';
import { decodeKey, formatKey, type Key } from '../core/keys/key-codec.ts';
import { plainValueProblem } from '../jobs/plain-value.ts';

export class JobErrors {
  readonly #ours = new WeakSet<object>();
  constructor(readonly job: { name: string }) {}

  get label(): string {
    return `job '${this.job.name}'`;
  }

  own<E extends Error>(err: E): E {
    this.#ours.add(err);
    return err;
  }

  isOwn(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.#ours.has(err);
  }

  /**
   * Runs user code for a key; what it throws becomes STRATA_E_JOB_REDUCE_FAILED naming the key.
   * `what` may be a function: on the per-record path the message is only built on failure.
   */
  guard<T>(key: KeyRef, what: string | (() => string), fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.wrap(err, key, what);
    }
  }

  /** The STRATA_E_JOB_REDUCE_FAILED for `err` thrown by user code for `key` (ours pass through). */
  wrap(err: unknown, key: KeyRef, what: string | (() => string)): unknown {
    if (this.isOwn(err)) return err;
    const k = keyOf(key);
    return this.own(
      new StrataError(
        'STRATA_E_JOB_REDUCE_FAILED',
        `${this.label}: ${typeof what === 'function' ? what() : what} for key ${formatKey(k)}: ${errorMessage(err)}`,
        {
          cause: err,
          details: { job: this.job.name, key: [...k] },
        },
      ),
    );
  }

  /** What reduce or combine returned must be storable plain data. */
  checkOutput(key: KeyRef, fn: 'reduce' | 'combine', value: unknown): void {
    const problem =
      value === undefined
        ? 'it is undefined (did the function forget to return?)'
        : plainValueProblem(value);
    if (!problem) return;
    const k = keyOf(key);
    throw this.own(
      new StrataError(
        'STRATA_E_JOB_VALUE',
        `${this.label}: ${fn} returned a value for key ${formatKey(k)} that cannot be stored: ${problem}. Return plain data (numbers, strings, arrays, plain objects).`,
        {
          details: { job: this.job.name, key: [...k] },
        },
      ),
    );
  }
}

/**
 * A key as user code sees it, its encoded bytes, or a function giving it (decoded only when
 * needed).
 */
export type KeyRef = Key | Uint8Array | (() => Key);

function keyOf(key: KeyRef): Key {
  return typeof key === 'function' ? key() : key instanceof Uint8Array ? decodeKey(key) : key;
}

/**
 * Any thrown value as one of our StrataErrors. A user bundle carries its own copy of StrataError
 * (esbuild inlines 'strata'), so its errors fail `instanceof`: they are recognised by shape and
 * rebuilt, keeping code, details, stack and cause.
 */
export function asStrataError(
  err: unknown,
  fallback: ErrorCode = 'STRATA_E_INTERNAL',
): StrataError {
  if (err instanceof StrataError) return err;
  if (isForeignStrataError(err)) return StrataError.fromJSON(err.toJSON());
  return new StrataError(fallback, errorMessage(err), { cause: err });
}

function isForeignStrataError(
  err: unknown,
): err is Error & { code: ErrorCode; toJSON(): StrataErrorJSON } {
  if (!(err instanceof Error) || err.name !== 'StrataError') return false;
  const e = err as Error & { code?: unknown; toJSON?: unknown };
  return typeof e.code === 'string' && e.code in ERROR_CODES && typeof e.toJSON === 'function';
}
