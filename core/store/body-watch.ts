/**
 * Tells a store's own failures apart from those of the caller's put body, so the body's error
 * reaches the caller untouched (a segment encoder's STRATA_E_JOB_VALUE stays that, not a store I/O
 * error).
 *
 *   const watched = watchBody(body);
 *   try { await write(watched.source); }
 *   catch (err) { throw watched.failure ? watched.failure.error : wrap(err); }
 */
import type { PutBody } from './store.ts';

export interface WatchedBody {
  source: PutBody;
  /** Set once the body itself threw. */
  readonly failure: { error: unknown } | undefined;
}

export function watchBody(body: PutBody): WatchedBody {
  const watched: { source: PutBody; failure: { error: unknown } | undefined } = {
    source: body,
    failure: undefined,
  };
  if (!(body instanceof Uint8Array)) {
    watched.source = (async function* () {
      try {
        yield* body;
      } catch (error) {
        watched.failure = { error };
        throw error;
      }
    })();
  }
  return watched;
}
