/**
 * The coordinator's HTTP API on a real coordinator (real redis-server, file store, port 0):
 * authentication, rejected submissions that leave nothing behind, and get/list/cancel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StrataConfig } from '../../core/config.ts';
import { isStrataError } from '../../core/errors.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { TASK_QUEUE } from '../../core/tasks/task-payload.ts';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/start-coordinator.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { api, putBundle, specFor, testConfig, writeDataset } from './coordinator-fixture.ts';

let redis: TestRedis;
let dir: string;
let store: ObjectStore;
let config: StrataConfig;
let coordinator: RunningCoordinator;
let conn: Redis;
let queue: Queue;
let codeHash: string;

beforeAll(async () => {
  redis = await startTestRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-api-'));
  config = testConfig({
    redisUrl: redis.url,
    storeDir: path.join(dir, 'store'),
    home: dir,
    overrides: { splitTargetBytes: 32 * 1024 },
  });
  store = await openStore(config.store);
  await writeDataset(store, 'pv', { days: 2, perDay: 300 });
  codeHash = await putBundle(store);
  coordinator = await startCoordinator(config, { pollMs: 200 });
  conn = await connectRedis(redis.url, { role: 'queue' });
  queue = new Queue(TASK_QUEUE, { connection: conn, prefix: config.redisPrefix });
});
afterAll(async () => {
  await coordinator?.stop();
  await queue?.close();
  conn?.disconnect();
  await store?.close();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function queued(): Promise<number> {
  const counts = await queue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe('coordinator HTTP API', () => {
  it('binds to loopback on a free port and answers /healthz, /readyz and /metrics without a token', async () => {
    expect(coordinator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await api(coordinator.url, 'GET', '/healthz', undefined, null)).toEqual({
      status: 200,
      json: { ok: true },
    });
    expect(await api(coordinator.url, 'GET', '/readyz', undefined, null)).toEqual({
      status: 200,
      json: { ok: true },
    });
    const metrics = await fetch(`${coordinator.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('strata_jobs{state="mapping"}');
    expect(text).toContain('strata_jobs_submitted_total');
  });

  it('a missing or wrong token is 401 STRATA_E_AUTH on every /v1 route', async () => {
    for (const [method, route] of [
      ['GET', '/v1/jobs'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/jobs/jx'],
      ['POST', '/v1/jobs/jx/cancel'],
    ] as const) {
      const none = await api(
        coordinator.url,
        method,
        route,
        method === 'POST' ? { spec: specFor(codeHash) } : undefined,
        null,
      );
      expect(none.status).toBe(401);
      expect(none.json.error).toMatchObject({ code: 'STRATA_E_AUTH', retryable: false });
      expect(none.json.error.message).toContain('Authorization: Bearer');
      const wrong = await api(coordinator.url, method, route, undefined, 'test-tokem');
      expect(wrong.status).toBe(401);
      expect(wrong.json.error.code).toBe('STRATA_E_AUTH');
    }
    expect(await queued()).toBe(0);
  });

  it('rejected submissions are 400 with a clear error and leave no job and no task', async () => {
    const cases: Array<[unknown, string, string]> = [
      [
        { spec: specFor(codeHash, { input: { dataset: 'nosuch' } }) },
        'STRATA_E_DATASET_NOT_FOUND',
        'nosuch',
      ],
      [
        {
          spec: specFor(codeHash, {
            input: { dataset: 'pv', from: '2025-01-01', to: '2025-01-31' },
          }),
        },
        'STRATA_E_DATE_RANGE',
        '2026-01-01 to 2026-01-02',
      ],
      [
        { spec: specFor(codeHash, { input: { dataset: 'pv', from: '2026-13-01' } }) },
        'STRATA_E_DATE_RANGE',
        '2026-13-01',
      ],
      [{ spec: specFor('0'.repeat(64)) }, 'STRATA_E_BUNDLE', `code/${'0'.repeat(64)}.mjs`],
      [
        { spec: { ...specFor(codeHash), partitions: 0, codeHash: 'xyz' } },
        'STRATA_E_JOB_DEFINITION',
        'codeHash',
      ],
      [{ nospec: true }, 'STRATA_E_USAGE', '{ "spec": JobSpec }'],
      ['{not json', 'STRATA_E_USAGE', 'not JSON'],
    ];
    for (const [body, code, mention] of cases) {
      const res = await api(coordinator.url, 'POST', '/v1/jobs', body);
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(res.json.error.code).toBe(code);
      expect(res.json.error.message).toContain(mention);
      expect(res.json.error.stack).toBeUndefined();
    }
    expect(await conn.zcard(`${config.redisPrefix}:jobs`)).toBe(0);
    expect(await queued()).toBe(0);
  });

  it('a body over the limit is refused with 413', async () => {
    const res = await api(coordinator.url, 'POST', '/v1/jobs', {
      spec: specFor(codeHash),
      pad: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('STRATA_E_USAGE');
  });

  it('an unknown job is 404 STRATA_E_JOB_NOT_FOUND', async () => {
    for (const id of ['jnosuch', 'Not..An/Id']) {
      const res = await api(coordinator.url, 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('STRATA_E_JOB_NOT_FOUND');
    }
    expect((await api(coordinator.url, 'POST', '/v1/jobs/jnosuch/cancel')).status).toBe(404);
  });

  it('submit answers 201 with the job mapping and its maps queued; get, list and cancel work; cancel removes waiting tasks', async () => {
    const submitted = await api(coordinator.url, 'POST', '/v1/jobs', { spec: specFor(codeHash) });
    expect(submitted.status).toBe(201);
    const job = submitted.json;
    expect(job).toMatchObject({
      state: 'mapping',
      spec: specFor(codeHash),
      inputRecords: 600,
      counters: { recordsIn: 0 },
    });
    expect(job.phases.map.total).toBeGreaterThanOrEqual(2);
    expect(job.phases.reduce).toMatchObject({
      total: 2,
      done: 0,
      running: 0,
      failed: 0,
      counters: { recordsIn: 0 },
    });
    expect(job.inputBytes).toBeGreaterThan(0);
    expect(job.started).toBeGreaterThanOrEqual(job.submitted);
    expect(await queue.getWaitingCount()).toBe(job.phases.map.total);

    const got = await api(coordinator.url, 'GET', `/v1/jobs/${job.id}?tasks=1`);
    expect(got.status).toBe(200);
    expect(
      got.json.tasks.map(
        (t: { taskId: string; state: string; attempt: number }) =>
          `${t.taskId}:${t.state}:${t.attempt}`,
      ),
    ).toEqual([
      ...Array.from({ length: job.phases.map.total }, (_, i) => `m-${i}:queued:1`),
      'r-0:pending:1',
      'r-1:pending:1',
    ]);
    expect((await api(coordinator.url, 'GET', `/v1/jobs/${job.id}`)).json.tasks).toBeUndefined();

    const second = (
      await api(coordinator.url, 'POST', '/v1/jobs', {
        spec: specFor(codeHash, { name: 'second', view: 'second' }),
      })
    ).json;
    const list = await api(coordinator.url, 'GET', '/v1/jobs');
    expect(list.json.jobs.map((j: { id: string }) => j.id)).toEqual([second.id, job.id]);
    expect((await api(coordinator.url, 'GET', '/v1/jobs?limit=1')).json.jobs).toHaveLength(1);
    expect((await api(coordinator.url, 'GET', '/v1/jobs?limit=0')).status).toBe(400);

    const cancelled = await api(coordinator.url, 'POST', `/v1/jobs/${job.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({
      id: job.id,
      state: 'cancelled',
      error: { code: 'STRATA_E_JOB_CANCELLED' },
    });
    expect(cancelled.json.finished).toBeGreaterThan(0);
    expect(
      (await api(coordinator.url, 'GET', `/v1/jobs/${job.id}?tasks=1`)).json.tasks.every(
        (t: { state: string }) => t.state === 'cancelled',
      ),
    ).toBe(true);
    expect(await queue.getWaitingCount()).toBe(second.phases.map.total); // only the second job's maps are left
    const again = await api(coordinator.url, 'POST', `/v1/jobs/${job.id}/cancel`);
    expect(again).toMatchObject({ status: 200, json: { state: 'cancelled' } });
    await api(coordinator.url, 'POST', `/v1/jobs/${second.id}/cancel`, '');
    expect(await queue.getWaitingCount()).toBe(0);
    expect(await conn.scard(`${config.redisPrefix}:jobs:live`)).toBe(0);
  });

  it('startCoordinator refuses to run without a token, and an unreachable Redis is STRATA_E_REDIS_UNAVAILABLE', async () => {
    const noToken = await startCoordinator({ ...config, token: '' }).catch((e: unknown) => e);
    expect(isStrataError(noToken, 'STRATA_E_CONFIG')).toBe(true);
    const down = await startCoordinator({ ...config, redisUrl: 'redis://127.0.0.1:1' }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(down, 'STRATA_E_REDIS_UNAVAILABLE')).toBe(true);
  });
});
