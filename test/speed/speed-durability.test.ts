/**
 * Durability of acknowledgements: `strata speed` as a real process, SIGKILLed under concurrent
 * load, then restarted. Every acknowledged record is in the master dataset; a request that got a
 * connection error instead of an answer is there entirely or not at all; nothing is there twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsEnv } from '../../cli/cluster/local-cluster.ts';
import { startService, type Service } from '../../cli/cluster/service-process.ts';
import { connectRedis } from '../../core/redis/connect-redis.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { CommitLog } from '../../speed/commit-log.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { TOKEN, ndjson, readDataset } from './speed-fixture.ts';

let redisServer: TestRedis;
let redis: Redis;
let dir: string;
let store: ObjectStore;
const running = new Set<Service>();

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = await connectRedis(redisServer.url, { role: 'command' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-speed-kill-'));
  store = await openStore(`file://${path.join(dir, 'store')}`);
});
afterAll(async () => {
  for (const s of running) await s.stop(1000);
  await store?.close();
  redis?.disconnect();
  await redisServer?.stop();
  await rm(dir, { recursive: true, force: true });
});

const PREFIX = 'durable';
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_'))),
  ...settingsEnv({
    redisPrefix: PREFIX,
    token: TOKEN,
    speedHost: '127.0.0.1',
    speedPort: 0,
    speedLingerMs: 2,
    speedBucketMs: 1000,
    logLevel: 'warn',
  }),
};

async function startSpeed(): Promise<{ service: Service; url: string }> {
  const service = await startService({
    name: 'speed',
    args: ['speed'],
    env: {
      ...env,
      ...settingsEnv({
        home: path.join(dir, 'home'),
        redisUrl: redisServer.url,
        store: `file://${path.join(dir, 'store')}`,
      }),
    },
    cwd: dir,
    logFile: path.join(dir, 'speed.log'),
    isReady: (line) => line.startsWith('speed listening on '),
  });
  running.add(service);
  void service.exited.then(() => running.delete(service));
  return { service, url: service.readyLine.replace('speed listening on ', '') };
}

type Outcome = 'acked' | 'connection-error' | 'other';
interface Sent {
  ids: string[];
  outcome: Outcome;
  detail?: string;
}

const T0 = Date.UTC(2026, 0, 5, 23, 59, 30);

describe('strata speed killed under load', () => {
  it('keeps every acknowledged record, and never half of a request, across SIGKILL and restart (3 rounds)', async () => {
    const sent: Sent[] = [];
    for (let round = 0; round < 3; round++) {
      const { service, url } = await startSpeed();
      let killed = false;
      let acked = 0;
      const killAfter = 20 + Math.floor(Math.random() * 60);
      const client = async (c: number) => {
        for (let r = 0; !killed; r++) {
          const count = 1 + ((c * 31 + r * 17) % 150);
          // Some requests straddle midnight: multi-day commits (staged through tmp/) get killed
          // too.
          const ids = Array.from({ length: count }, (_, i) => `k${round}-c${c}-r${r}-${i}`);
          const records = ids.map((id, i) => ({
            id,
            time: T0 + ((i * 997 + r * 13) % 60_000),
            price: i,
          }));
          const entry: Sent = { ids, outcome: 'other' };
          sent.push(entry);
          try {
            const res = await fetch(`${url}/v1/datasets/ticks/records`, {
              method: 'POST',
              headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
              body: ndjson(records),
            });
            const body = await res.text();
            if (res.status === 200) {
              entry.outcome = 'acked';
              if (++acked === killAfter) {
                killed = true;
                process.kill(service.pid, 'SIGKILL');
              }
            } else entry.detail = `${res.status} ${body.slice(0, 300)}`;
          } catch (err) {
            entry.outcome = 'connection-error';
            entry.detail = String((err as { cause?: unknown }).cause ?? err);
            return;
          }
        }
      };
      await Promise.all(Array.from({ length: 24 }, (_, c) => client(c)));
      const exit = await service.exited;
      expect(exit.signal).toBe('SIGKILL');
    }

    // Restart: recovery settles what the last kill left in flight before the server answers.
    const { service } = await startSpeed();
    const log = new CommitLog(redis, { prefix: PREFIX, bucketMs: 1000 });
    expect(await log.listInflight('ticks')).toEqual([]);
    await service.stop();

    const stored = (await readDataset(store, 'ticks')).map((r) => r.id as string);
    const counts = new Map<string, number>();
    for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    const byOutcome = {
      acked: 0,
      whole: 0,
      absent: 0,
      other: sent.filter((s) => s.outcome === 'other'),
    };
    for (const s of sent) {
      const present = s.ids.filter((id) => counts.has(id)).length;
      if (s.outcome === 'acked') {
        expect(present, `acknowledged request ${s.ids[0]}…`).toBe(s.ids.length);
        byOutcome.acked++;
      } else if (s.outcome === 'connection-error') {
        expect([0, s.ids.length], `request ${s.ids[0]}… (${s.detail}) is partly stored`).toContain(
          present,
        );
        if (present) byOutcome.whole++;
        else byOutcome.absent++;
      }
    }
    expect(byOutcome.other.map((s) => s.detail)).toEqual([]); // no 5xx or 4xx under load
    const sentIds = new Set(sent.flatMap((s) => s.ids));
    expect(stored.filter((id) => !sentIds.has(id))).toEqual([]);
    expect(byOutcome.acked).toBeGreaterThanOrEqual(60);
    expect(byOutcome.whole + byOutcome.absent).toBeGreaterThan(0);
    // Visible in the test output: how the interrupted requests ended.
    process.stdout.write(
      `durability: ${byOutcome.acked} acknowledged, ${byOutcome.whole} interrupted but stored whole, ${byOutcome.absent} interrupted and absent, ${stored.length} records\n`,
    );
  });
});
