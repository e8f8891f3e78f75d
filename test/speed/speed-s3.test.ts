/**
 * The speed layer on an S3 store (a real S3 server started by the test): acknowledged records are
 * objects in the bucket, multi-day commits copy server-side, and a store that goes away fails
 * the commit with 503 and acknowledges nothing.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSegmentKey } from '../../core/dataset/dataset-layout.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import { CommitLog } from '../../speed/commit-log.ts';
import { startSpeedServer } from '../../speed/start-speed-server.ts';
import { startS3Server, type S3TestServer } from '../support/s3-server.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { ndjson, post, readDataset, speedConfig } from './speed-fixture.ts';

let s3: S3TestServer | undefined;
let redisServer: TestRedis;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = await connectRedis(redisServer.url, { role: 'command' });
  s3 = await startS3Server();
});
afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop();
  await s3?.stop();
});

describe('speed layer on S3', () => {
  it('stores acknowledged records as segments in the bucket (one and several days), and answers 503 with nothing acknowledged once S3 is gone', async () => {
    const url = s3!.url('strata-speed', 'run-1');
    const config = speedConfig({ redisUrl: redisServer.url, store: url });
    const store = await openStore(url);
    const server = await startSpeedServer(config, { store });
    try {
      const t = Date.UTC(2026, 0, 5, 12);
      const one = await post(
        server.url,
        'ticks',
        ndjson([
          { id: 'a', time: t },
          { id: 'b', time: t + 1 },
        ]),
      );
      expect(one.status).toBe(200);
      const two = await post(
        server.url,
        'ticks',
        ndjson([
          { id: 'c', time: t },
          { id: 'd', time: t + 86_400_000 },
        ]),
      );
      expect(two.status).toBe(200);
      expect(two.body.segments.map((k: string) => parseSegmentKey(k)!.date)).toEqual([
        '2026-01-05',
        '2026-01-06',
      ]);
      expect((await readDataset(store, 'ticks')).map((r) => r.id).sort()).toEqual([
        'a',
        'b',
        'c',
        'd',
      ]);
      const tmp: string[] = [];
      for await (const o of store.list('tmp/')) tmp.push(o.key);
      expect(tmp).toEqual([]);

      await s3!.stop();
      s3 = undefined;
      const down = await post(server.url, 'ticks', ndjson([{ id: 'e', time: t }]));
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('STRATA_E_SPEED_UNAVAILABLE');
      expect(down.body.error.message).toMatch(
        /\[STRATA_E_STORE_(UNAVAILABLE|IO)\]\); the store write failed, so the records are most likely not stored and nothing was acknowledged: send them again$/,
      );
      // It began, so it stays in flight until the store answers again (the next start settles it).
      const log = new CommitLog(redis, {
        prefix: config.redisPrefix,
        bucketMs: config.speedBucketMs,
      });
      expect((await log.listInflight('ticks')).map((r) => r.id)).toEqual([
        down.body.error.details.commitId,
      ]);
    } finally {
      await server.close();
      await store.close();
    }
  });
});
