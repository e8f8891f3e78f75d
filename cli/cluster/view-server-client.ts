/**
 * The CLI's client of a view server (`strata serve`, routes in serving/view-server-api.ts): one
 * key, or one page of a scan, from the current version of a view.
 *
 *   const server = new ViewServerClient('http://127.0.0.1:7080');
 *   const hit = await server.get('pageviews', ['/home', '2024-06-03T14']);  // { version, found, value }
 *   const page = await server.scan('pageviews', ['/home'], 1000);          // { version, entries, cursor? }
 *
 * Keys travel as `?key=<JSON array>`, so 7 and '7' stay different keys. A server that does not
 * answer (refused, unreachable, timed out) or is still loading its views is
 * STRATA_E_SERVE_UNAVAILABLE: callers then read the store, which holds the same committed
 * versions. Any other error is the server's own StrataError (STRATA_E_VIEW_NOT_FOUND, …).
 */
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import type { KeyPart } from '../../core/keys/key-codec.ts';

export interface ServerValue {
  version: string;
  found: boolean;
  /** The value when found. */
  value?: unknown;
}

export interface ServerScanPage {
  version: string;
  entries: Array<[KeyPart[], unknown]>;
  /** Pass to the next call for the following page; absent on the last page. */
  cursor?: string;
}

export interface LiveEvent {
  event: string;
  data: { view: string; version?: string; keys?: KeyPart[][]; more?: number; bucket?: number };
}

export class ViewServerClient {
  readonly url: string;
  readonly #timeoutMs: number;

  constructor(url: string, options: { timeoutMs?: number } = {}) {
    this.url = url.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async get(view: string, key: readonly KeyPart[]): Promise<ServerValue> {
    const res = await this.#request(
      `/v1/views/${encodeURIComponent(view)}/get?key=${encodeURIComponent(JSON.stringify(key))}`,
    );
    if (res.status === 200) {
      const body = (await res.json()) as { version: string; value: unknown };
      return { version: body.version, found: true, value: body.value };
    }
    const err = await errorOf(res, this.url);
    if (err.code === 'STRATA_E_KEY_NOT_FOUND')
      return {
        version: String(err.details?.version ?? res.headers.get('strata-view-version') ?? ''),
        found: false,
      };
    throw err;
  }

  async scan(
    view: string,
    prefix: readonly KeyPart[],
    limit: number,
    cursor?: string,
  ): Promise<ServerScanPage> {
    const query = new URLSearchParams({
      prefix: JSON.stringify(prefix),
      limit: String(limit),
      ...(cursor === undefined ? {} : { cursor }),
    });
    const res = await this.#request(`/v1/views/${encodeURIComponent(view)}/scan?${query}`);
    if (res.status !== 200) throw await errorOf(res, this.url);
    return (await res.json()) as ServerScanPage;
  }

  /**
   * The view's live changes (server-sent events), until `signal` aborts or the server closes:
   * `{ event: 'hello' | 'keys' | 'version', data }` (see serving/live-changes.ts).
   */
  async *changes(view: string, signal?: AbortSignal): AsyncGenerator<LiveEvent> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/views/${encodeURIComponent(view)}/changes`, {
        headers: { accept: 'text/event-stream' },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new StrataError(
        'STRATA_E_SERVE_UNAVAILABLE',
        `the view server at ${this.url} did not answer (${(err as Error).message}); check --server or STRATA_SERVE_URL`,
        { details: { url: this.url }, cause: err },
      );
    }
    if (res.status !== 200 || !res.body) throw await errorOf(res, this.url);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) yield { event, data: JSON.parse(data) as LiveEvent['data'] };
        }
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  async #request(pathAndQuery: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${pathAndQuery}`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? (err as Error).name;
      throw new StrataError(
        'STRATA_E_SERVE_UNAVAILABLE',
        `the view server at ${this.url} did not answer (${why}); check --server or STRATA_SERVE_URL`,
        { details: { url: this.url, why }, cause: err },
      );
    }
    if (res.status === 503) {
      await res.body?.cancel();
      throw new StrataError(
        'STRATA_E_SERVE_UNAVAILABLE',
        `the view server at ${this.url} is still loading its views`,
        { details: { url: this.url, status: 503 } },
      );
    }
    return res;
  }
}

/**
 * The server's `{ error }` body as a StrataError; anything else (a proxy's page) is
 * STRATA_E_SERVE_UNAVAILABLE.
 */
async function errorOf(res: Response, url: string): Promise<StrataError> {
  const text = await res.text();
  try {
    const { error } = JSON.parse(text) as { error?: StrataErrorJSON };
    if (error && typeof error.code === 'string' && typeof error.message === 'string')
      return StrataError.fromJSON(error);
  } catch {
    // not JSON: not a Strata view server
  }
  return new StrataError(
    'STRATA_E_SERVE_UNAVAILABLE',
    `${url} answered ${res.status} without a Strata error body (${JSON.stringify(text.slice(0, 120))}); is it a Strata view server?`,
    { details: { url, status: res.status } },
  );
}
