/**
 * The one registry of Strata's error codes.
 *
 *   throw new StrataError('STRATA_E_STORE_EXISTS', `master/x.seg already exists`, { details: { key } });
 *
 * Every error a user can see carries a stable code from `ERROR_CODES`, a message that names the
 * bad input and the fix, and a `retryable` flag (taken from the registry, so a caller never has
 * to guess). `toJSON`/`fromJSON` let an error cross a thread, a process or gRPC intact.
 * `docs/errors.md` lists every code; test/errors-doc.test.ts keeps the two in sync.
 *
 * This module is pure (no runtime dependencies) so `jobs/` may import it.
 */

export const ERROR_CODES = {
  STRATA_E_INTERNAL: { retryable: false, doc: 'A bug in Strata: an invariant did not hold.' },
  STRATA_E_CONFIG: {
    retryable: false,
    doc: 'A configuration value (environment variable or flag) is missing or invalid.',
  },
  STRATA_E_USAGE: { retryable: false, doc: 'A command was called with wrong arguments or flags.' },
  STRATA_E_DEPENDENCY_MISSING: {
    retryable: false,
    doc: 'A program Strata needs (such as redis-server) is not installed.',
  },
  STRATA_E_REDIS_UNAVAILABLE: {
    retryable: true,
    doc: 'Redis could not be reached at the configured URL.',
  },
  STRATA_E_REDIS_START_FAILED: {
    retryable: false,
    doc: 'A redis-server child process exited or did not answer PING in time; the message quotes its last log lines.',
  },
  STRATA_E_SERVICE_START_FAILED: {
    retryable: false,
    doc: 'A coordinator or worker process started by strata dev (or a test cluster) exited or did not report ready in time; the message quotes its last output and names its log file.',
  },

  STRATA_E_STORE_URL: {
    retryable: false,
    doc: 'The store URL is not file:///dir or s3://bucket/prefix?endpoint=….',
  },
  STRATA_E_STORE_EXISTS: {
    retryable: false,
    doc: 'A create-only write hit a key that already exists.',
  },
  STRATA_E_STORE_IMMUTABLE: {
    retryable: false,
    doc: 'An overwrite or delete the store refuses: anything under master/ or code/, and any overwrite outside tmp/ that is not a pointer (deletes are allowed only under tmp/ and of whole view versions, by retention).',
  },
  STRATA_E_STORE_NOT_FOUND: { retryable: false, doc: 'The store has no object at that key.' },
  STRATA_E_STORE_UNAVAILABLE: {
    retryable: true,
    doc: 'The store could not be reached (S3 server down, wrong endpoint, bad credentials).',
  },
  STRATA_E_STORE_IO: { retryable: true, doc: 'A read or write to the store failed part way.' },
  STRATA_E_STORE_KEY: {
    retryable: false,
    doc: 'A store key is malformed (empty, absolute, or containing "..").',
  },
  STRATA_E_STORE_RANGE: {
    retryable: false,
    doc: 'A byte range is not whole numbers with 0 ≤ start ≤ end.',
  },

  STRATA_E_SEGMENT_CORRUPT: {
    retryable: false,
    doc: 'A segment block or footer failed its CRC32 or length check.',
  },
  STRATA_E_SEGMENT_FORMAT: {
    retryable: false,
    doc: 'A file is not a Strata segment, or of an unknown version.',
  },
  STRATA_E_VIEWFILE_CORRUPT: {
    retryable: false,
    doc: 'A view file is truncated, has a bad checksum, or is not a view file.',
  },
  STRATA_E_VIEWFILE_ORDER: {
    retryable: false,
    doc: 'Keys were written to a view file out of order or twice.',
  },
  STRATA_E_KEY_INVALID: {
    retryable: false,
    doc: 'A key is not a non-empty tuple of strings and finite numbers.',
  },
  STRATA_E_RUN_FILE_CORRUPT: {
    retryable: false,
    doc: 'A local sorted-run file (a spill or a map output) is truncated, not a run file, or failed its CRC32 check.',
  },
  STRATA_E_SHUFFLE_FETCH_FAILED: {
    retryable: true,
    doc: 'A shuffle fetch failed (peer gone, map output missing or corrupt, timed out); details name the address, map output and partition so that map is re-run.',
  },
  STRATA_E_SHUFFLE_UNAUTHENTICATED: {
    retryable: false,
    doc: 'A shuffle server refused the token: all workers of a cluster must be given the same shuffle token.',
  },

  STRATA_E_RECORD_INVALID: {
    retryable: false,
    doc: 'An input record is malformed; the message names the file, line or row, and the problem.',
  },
  STRATA_E_INPUT_FORMAT: {
    retryable: false,
    doc: 'An input file cannot be read in the given format.',
  },
  STRATA_E_INPUT_NOT_FOUND: {
    retryable: false,
    doc: 'An input file does not exist or cannot be opened.',
  },
  STRATA_E_DATASET_NAME: {
    retryable: false,
    doc: 'A dataset name is not [a-z0-9][a-z0-9_-]* (at most 64 characters).',
  },
  STRATA_E_DATASET_NOT_FOUND: {
    retryable: false,
    doc: 'No dataset of that name exists in the store.',
  },
  STRATA_E_DATE_RANGE: {
    retryable: false,
    doc: 'A date is not YYYY-MM-DD, or a range is empty or inverted.',
  },

  STRATA_E_VIEW_NAME: {
    retryable: false,
    doc: 'A view name is not [a-z0-9][a-z0-9_-]* (at most 64 characters).',
  },
  STRATA_E_VIEW_NOT_FOUND: {
    retryable: false,
    doc: 'No published view of that name exists (run a job that writes it, or check strata views).',
  },
  STRATA_E_REALTIME_JOB: {
    retryable: false,
    doc: 'A job cannot be kept realtime: its reduce is not an aggregator, or its input ends at a fixed date.',
  },
  STRATA_E_REALTIME_NOT_REGISTERED: {
    retryable: false,
    doc: 'A realtime operation named a view that is not registered (strata views register <job.ts> registers it).',
  },
  STRATA_E_REALTIME_STATE: {
    retryable: true,
    doc: 'The realtime state of a view in Redis could not be read or updated; a request that needs it fails (503) rather than answering without the realtime part.',
  },
  STRATA_E_KEY_NOT_FOUND: { retryable: false, doc: 'The view has no value under that key.' },
  STRATA_E_REQUEST_TOO_LARGE: {
    retryable: false,
    doc: 'A request to the view server is too large: too many keys in a multi-get, a body, URL or key over its limit; split it.',
  },
  STRATA_E_SERVE_UNAVAILABLE: {
    retryable: true,
    doc: 'A view server could not be reached at the configured URL, or is still loading its views (strata get and strata scan then read the store).',
  },
  STRATA_E_JOB_DEFINITION: {
    retryable: false,
    doc: 'defineJob was called with a missing or invalid option.',
  },
  STRATA_E_JOB_MAP_FAILED: {
    retryable: false,
    doc: "The job's map function threw; the message names the segment and record position.",
  },
  STRATA_E_JOB_BAD_RECORDS: {
    retryable: false,
    doc: 'A job met more bad input records (map threw on them, or they were in a segment block that failed its CRC) than its badRecords.max allows; the message says how many, where the quarantine files are and how to raise the budget.',
  },
  STRATA_E_JOB_REDUCE_FAILED: {
    retryable: false,
    doc: "The job's reduce function or aggregator threw; the message names the key.",
  },
  STRATA_E_JOB_VALUE: {
    retryable: false,
    doc: 'A job emitted a key or value that cannot be encoded (functions, symbols, cycles, non-finite numbers in keys).',
  },
  STRATA_E_CALL_FAILED: {
    retryable: false,
    doc: "A plain task's function threw on a worker; the cause holds its error and stack.",
  },
  STRATA_E_JOB_NOT_FOUND: {
    retryable: false,
    doc: 'The coordinator has no job with that id (list jobs with GET /v1/jobs or strata jobs).',
  },
  STRATA_E_JOB_FAILED: {
    retryable: false,
    doc: 'A batch job failed: a task used up its attempts or the commit failed; the cause is the last task error.',
  },
  STRATA_E_JOB_CANCELLED: {
    retryable: false,
    doc: 'A batch job was cancelled before it committed; nothing of it was published.',
  },
  STRATA_E_TASK_LOST: {
    retryable: true,
    doc: 'A task attempt was lost: its worker died or stalled (its lock expired), so it is run again.',
  },
  STRATA_E_TASK_CANCELLED: {
    retryable: true,
    doc: 'The coordinator cancelled a running task attempt because its answer is no longer wanted (another attempt of the task won, or the job ended); nothing it did is used.',
  },
  STRATA_E_AUTH: {
    retryable: false,
    doc: 'A request had no bearer token or a wrong one; use the cluster token (STRATA_TOKEN or .strata/cluster.json).',
  },
  STRATA_E_BUNDLE: {
    retryable: false,
    doc: 'A job or task module could not be bundled (it does not compile, or lacks the export asked for); the message quotes the compiler with file:line:col.',
  },
  STRATA_E_COORDINATOR_UNAVAILABLE: {
    retryable: true,
    doc: 'The coordinator API could not be reached at the configured URL (start a cluster with strata dev, or check --coordinator).',
  },
  STRATA_E_SPEED_UNAVAILABLE: {
    retryable: true,
    doc: 'The speed layer ingest API could not be reached at the configured URL, is stopping, or could not commit a batch (store or Redis down); the batch was not acknowledged, so send it again.',
  },
  STRATA_E_SPEED_LEADER: {
    retryable: false,
    doc: 'Another strata speed process holds the speed lease of this cluster prefix (one per cluster); the message names its host:pid. Stop it, or wait for its lease to expire if it was killed.',
  },
  STRATA_E_SPEED_IN_FLIGHT: {
    retryable: true,
    doc: 'Speed commits of a sealed bucket were still in flight when the wait ran out; start strata speed (it recovers unfinished commits) and try again.',
  },
} as const satisfies Record<string, { retryable: boolean; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface StrataErrorJSON {
  name: 'StrataError';
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
  stack?: string;
  cause?: StrataErrorJSON | { name: string; message: string; stack?: string };
}

export class StrataError extends Error {
  override readonly name = 'StrataError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!(code in ERROR_CODES)) throw new Error(`unknown Strata error code ${code}`);
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
  }

  toJSON(): StrataErrorJSON {
    return {
      name: 'StrataError',
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
      ...(this.stack ? { stack: this.stack } : {}),
      ...(this.cause !== undefined ? { cause: serializeCause(this.cause) } : {}),
    };
  }

  /**
   * Rebuilds an error that crossed a thread, process or wire boundary; keeps the original stack.
   */
  static fromJSON(json: StrataErrorJSON): StrataError {
    const code: ErrorCode = json.code in ERROR_CODES ? json.code : 'STRATA_E_INTERNAL';
    const cause =
      json.cause === undefined
        ? undefined
        : 'code' in json.cause
          ? StrataError.fromJSON(json.cause)
          : reviveError(json.cause);
    const err = new StrataError(code, json.message, {
      details: json.details,
      retryable: json.retryable,
      cause,
    });
    if (json.stack) err.stack = json.stack;
    return err;
  }
}

export function isStrataError(err: unknown, code?: ErrorCode): err is StrataError {
  return err instanceof StrataError && (code === undefined || err.code === code);
}

/** An error as an HTTP API answers it (`{ error: publicJSON(e) }`): no server stack, no cause. */
export function publicJSON(e: StrataError): StrataErrorJSON {
  const { stack: _stack, cause: _cause, ...rest } = e.toJSON();
  return rest;
}

/** The message of anything thrown (an Error's message, else the value as text). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Wraps anything thrown into a StrataError without losing the original as `cause`. */
export function toStrataError(
  err: unknown,
  fallback: ErrorCode = 'STRATA_E_INTERNAL',
): StrataError {
  if (err instanceof StrataError) return err;
  return new StrataError(fallback, errorMessage(err), { cause: err });
}

function serializeCause(cause: unknown): StrataErrorJSON['cause'] {
  if (cause instanceof StrataError) return cause.toJSON();
  if (cause instanceof Error)
    return {
      name: cause.name,
      message: cause.message,
      ...(cause.stack ? { stack: cause.stack } : {}),
    };
  return { name: 'Error', message: String(cause) };
}

function reviveError(json: { name: string; message: string; stack?: string }): Error {
  const err = new Error(json.message);
  err.name = json.name;
  if (json.stack) err.stack = json.stack;
  return err;
}
