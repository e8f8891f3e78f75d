/**
 * A typed client of the coordinator's HTTP API (docs: notes/batch-design.md, "Coordinator HTTP
 * API").
 *
 *   const api = new CoordinatorClient({ url: 'http://127.0.0.1:7070', token });
 *   const job = await api.submit(spec);                 // 201 → JobStatus
 *   const now = await api.job(job.id, { tasks: true });
 *   await api.cancel(job.id);
 *
 * Errors the coordinator answers with ({ error: StrataErrorJSON }) are revived as the same
 * StrataError, so a job's own failure surfaces with its code, message and stack. A coordinator
 * that cannot be reached is STRATA_E_COORDINATOR_UNAVAILABLE naming the URL; a refused token is
 * STRATA_E_AUTH.
 */
import { isStrataError, StrataError, type StrataErrorJSON } from '../core/errors.ts';
import type { JobSpec } from '../core/tasks/task-payload.ts';
import type { JobStatus } from '../coordinator/job-status.ts';
import type { JobState } from '../coordinator/state/job-state.ts';
import type { RealtimeRegistration } from '../speed/realtime-registry.ts';

// The answers' types are the coordinator's own (type-only: nothing of the coordinator loads here).
export type { JobStatus, PhaseProgress, TaskStatus } from '../coordinator/job-status.ts';
export type { JobState } from '../coordinator/state/job-state.ts';

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface CoordinatorClientOptions {
  url: string;
  token: string;
  /** Milliseconds per request. Default 30 000. */
  timeoutMs?: number;
}

export class CoordinatorClient {
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: CoordinatorClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  submit(spec: JobSpec): Promise<JobStatus> {
    return this.#request('POST', '/v1/jobs', { spec });
  }

  /** Every job, newest first. */
  async jobs(): Promise<JobStatus[]> {
    return (await this.#request<{ jobs: JobStatus[] }>('GET', '/v1/jobs')).jobs;
  }

  /** STRATA_E_JOB_NOT_FOUND for an unknown id. */
  job(id: string, options: { tasks?: boolean } = {}): Promise<JobStatus> {
    return this.#request(
      'GET',
      `/v1/jobs/${encodeURIComponent(id)}${options.tasks ? '?tasks=1' : ''}`,
    );
  }

  /** Cancelling a job that already ended is a no-op that returns its status. */
  cancel(id: string): Promise<JobStatus> {
    return this.#request('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, {});
  }

  /** Registers a job's view for realtime and starts its first recomputation. */
  registerRealtime(
    spec: JobSpec,
    everyMs: number | null,
  ): Promise<{ registration: RealtimeRegistration; job: JobStatus }> {
    return this.#request('POST', '/v1/realtime/views', { spec, everyMs });
  }

  async realtimeViews(): Promise<RealtimeRegistration[]> {
    return (await this.#request<{ views: RealtimeRegistration[] }>('GET', '/v1/realtime/views'))
      .views;
  }

  unregisterRealtime(view: string): Promise<{ view: string; removed: boolean }> {
    return this.#request('DELETE', `/v1/realtime/views/${encodeURIComponent(view)}`);
  }

  /** A recomputation of a realtime view now (the batch layer's loop does this every `everyMs`). */
  recompute(view: string): Promise<JobStatus> {
    return this.#request('POST', `/v1/realtime/views/${encodeURIComponent(view)}/recompute`, {});
  }

  setCadence(view: string, everyMs: number | null): Promise<RealtimeRegistration> {
    return this.#request('PUT', `/v1/realtime/views/${encodeURIComponent(view)}/cadence`, {
      everyMs,
    });
  }

  /**
   * Polls until the job ends, calling `onStatus` with each answer; resolves with the final status.
   * A coordinator that restarts carries its jobs on, so an unreachable or retryable answer is
   * retried with backoff for up to `outageMs` (default 60 s) before giving up.
   */
  async waitFor(
    id: string,
    options: { intervalMs?: number; outageMs?: number; onStatus?: (s: JobStatus) => void } = {},
  ): Promise<JobStatus> {
    const intervalMs = options.intervalMs ?? 250;
    const outageMs = options.outageMs ?? 60_000;
    let outageSince: number | undefined;
    for (;;) {
      let status: JobStatus;
      try {
        status = await this.job(id);
        outageSince = undefined;
      } catch (err) {
        const transient =
          isStrataError(err, 'STRATA_E_COORDINATOR_UNAVAILABLE') ||
          (isStrataError(err) && err.retryable);
        outageSince ??= Date.now();
        if (!transient || Date.now() - outageSince > outageMs) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, intervalMs * 4)));
        continue;
      }
      options.onStatus?.(status);
      if (TERMINAL_STATES.includes(status.state)) return status;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  async #request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    route: string,
    body?: unknown,
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw unavailable(this.url, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined)
        throw new StrataError(
          'STRATA_E_INTERNAL',
          `the coordinator at ${this.url} answered ${method} ${route} with ${res.status} and no JSON: ${text.slice(0, 200)}`,
        );
      return json as T;
    }
    const error = (json as { error?: StrataErrorJSON } | undefined)?.error;
    if (res.status === 401) {
      throw new StrataError(
        'STRATA_E_AUTH',
        `the coordinator at ${this.url} refused the token${error?.message ? ` (${error.message})` : ''}; pass the cluster's token with --token or STRATA_TOKEN (strata dev writes it to .strata/cluster.json)`,
        {
          details: { url: this.url, status: 401 },
        },
      );
    }
    if (error && typeof error === 'object' && typeof error.code === 'string')
      throw StrataError.fromJSON(error);
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `the coordinator at ${this.url} answered ${method} ${route} with ${res.status}: ${text.slice(0, 300)}`,
      {
        details: { url: this.url, status: res.status },
      },
    );
  }
}

function unavailable(url: string, err: unknown): StrataError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const timedOut = (err as { name?: string }).name === 'TimeoutError';
  const why = timedOut
    ? 'did not answer in time'
    : cause?.code === 'ECONNREFUSED'
      ? 'refused the connection'
      : `could not be reached (${cause?.message ?? (err as Error).message})`;
  return new StrataError(
    'STRATA_E_COORDINATOR_UNAVAILABLE',
    `the coordinator at ${url} ${why}; start a cluster with strata dev, or point --coordinator (STRATA_COORDINATOR_URL) at a running one`,
    {
      cause: err,
      details: { url },
    },
  );
}
