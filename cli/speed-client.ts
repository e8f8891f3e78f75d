/**
 * A client of the speed layer's ingest API (speed/speed-api.ts).
 *
 *   const speed = new SpeedClient({ url: 'http://127.0.0.1:7090', token });
 *   const ack = await speed.post('ticks', ndjsonText);   // { records, commitId, bucket, segments }
 *
 * Errors the server answers ({ error: StrataErrorJSON }) are revived as the same StrataError; a
 * server that cannot be reached (or does not answer within the timeout) is
 * STRATA_E_SPEED_UNAVAILABLE naming the URL. Nothing is retried here: the caller decides
 * (cli/input/follow-ingest.ts resends the same bytes).
 */
import { StrataError, type StrataErrorJSON } from '../core/errors.ts';

export interface SpeedAck {
  records: number;
  commitId: number;
  bucket: number;
  segments: string[];
}

export interface SpeedPostOptions {
  /** The record field with the event time (server default 'time'). */
  timeField?: string;
  /** Stamp records that lack the time field with the ingest time. */
  ingestTime?: boolean;
}

export interface SpeedClientOptions {
  url: string;
  token: string;
  /** Milliseconds per request. Default 60 000. */
  timeoutMs?: number;
}

export class SpeedClient {
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: SpeedClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Posts NDJSON text (one record per line); resolves once the records are durable. */
  async post(dataset: string, ndjson: string, options: SpeedPostOptions = {}): Promise<SpeedAck> {
    const query = new URLSearchParams();
    if (options.timeField) query.set('timeField', options.timeField);
    if (options.ingestTime) query.set('defaultTime', 'now');
    const q = query.size > 0 ? `?${query}` : '';
    const where = `${this.url}/v1/datasets/${encodeURIComponent(dataset)}/records`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${where}${q}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/x-ndjson' },
        body: ndjson,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.#timeoutMs} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new StrataError(
        'STRATA_E_SPEED_UNAVAILABLE',
        `the speed layer at ${this.url} could not be reached (${why}); start it with strata speed (or strata dev), or pass --speed URL`,
        {
          cause: err,
          details: { url: this.url },
        },
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new StrataError(
        'STRATA_E_SPEED_UNAVAILABLE',
        `${where} answered ${res.status} with something that is not JSON (${text.slice(0, 120)}); is that a Strata speed layer?`,
        { details: { url: this.url, status: res.status } },
      );
    }
    if (res.ok) return body as SpeedAck;
    const error = (body as { error?: StrataErrorJSON }).error;
    if (error?.code) throw StrataError.fromJSON(error);
    throw new StrataError(
      'STRATA_E_SPEED_UNAVAILABLE',
      `${where} answered ${res.status}: ${text.slice(0, 200)}`,
      { details: { url: this.url, status: res.status } },
    );
  }
}
