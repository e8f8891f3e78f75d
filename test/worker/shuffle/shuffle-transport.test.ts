import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, type StrataError } from '../../../core/errors.ts';
import { openRunFile, writeRunFile } from '../../../worker/shuffle/run-file.ts';
import {
  closeShuffleClients,
  fetchBatches,
  fetchPartition,
  pingShuffleServer,
  type FetchPartitionRequest,
} from '../../../worker/shuffle/shuffle-client.ts';
import { startShuffleServer } from '../../../worker/shuffle/shuffle-server.ts';
import {
  entryKey,
  entryValue,
  sortedEntries,
  spawnShuffleServer,
  type ServerProcess,
} from './helpers.ts';

const TOKEN = 'test-token-3f9a';
// ~200k entries, ~21 MB, spread unevenly over 4 partitions (one empty).
const COUNTS = [120_000, 0, 60_000, 20_000];

function request(
  mapOutputId: string,
  partition: number,
  extra: Partial<FetchPartitionRequest> = {},
): FetchPartitionRequest {
  return { jobId: 'job-1', mapOutputId, partition, token: TOKEN, ...extra };
}

async function failure(run: () => Promise<unknown>): Promise<StrataError> {
  try {
    await run();
  } catch (err) {
    return err as StrataError;
  }
  throw new Error('expected a failure');
}

async function drain(iterable: AsyncIterable<unknown[]>): Promise<number> {
  let n = 0;
  for await (const batch of iterable) n += batch.length;
  return n;
}

describe('shuffle over gRPC between two processes', () => {
  let dir: string;
  let runFile: string;
  let corruptFile: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-shuffle-'));
    runFile = path.join(dir, 'm-0.run');
    await writeRunFile(runFile, sortedEntries(COUNTS), { partitions: 4 });
    // A copy with one byte flipped in the middle of partition 2.
    corruptFile = path.join(dir, 'm-bad.run');
    await copyFile(runFile, corruptFile);
    const run = await openRunFile(runFile);
    const at = run.partitions[2]!.offset + Math.floor(run.partitions[2]!.bytes / 2);
    await run.close();
    const fh = await open(corruptFile, 'r+');
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] ^= 0xff;
    await fh.write(one, 0, 1, at);
    await fh.close();
    server = await spawnShuffleServer(TOKEN, {
      'job-1/m-0/a1': runFile,
      'job-1/m-bad/a1': corruptFile,
      'job-1/m-gone/a1': path.join(dir, 'deleted.run'),
    });
  });

  afterAll(async () => {
    closeShuffleClients();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every entry of every partition arrives, in order', async () => {
    for (let p = 0; p < COUNTS.length; p++) {
      let i = 0;
      for await (const entries of fetchPartition(server.address, request('job-1/m-0/a1', p))) {
        for (const [key, value] of entries) {
          if (
            !Buffer.from(key).equals(entryKey(p, i)) ||
            !Buffer.from(value).equals(entryValue(i))
          ) {
            throw new Error(`partition ${p}: entry ${i} differs`);
          }
          i++;
        }
      }
      expect(i).toBe(COUNTS[p]);
    }
  });

  it('a wrong token is refused with STRATA_E_SHUFFLE_UNAUTHENTICATED', async () => {
    const err = await failure(() =>
      drain(fetchPartition(server.address, request('job-1/m-0/a1', 0, { token: 'wrong' }))),
    );
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_UNAUTHENTICATED')).toBe(true);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('token');
  });

  it('an unknown map output fails with STRATA_E_SHUFFLE_FETCH_FAILED naming it, the address and the partition', async () => {
    const err = await failure(() =>
      drain(fetchPartition(server.address, request('job-1/m-7/a2', 3))),
    );
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED')).toBe(true);
    expect(err.message).toContain('job-1/m-7/a2');
    expect(err.details).toMatchObject({
      address: server.address,
      mapOutputId: 'job-1/m-7/a2',
      partition: 3,
      reason: 'not-found',
      grpcCode: 'NOT_FOUND',
    });
    expect(err.retryable).toBe(true);
  });

  it('a map output whose file has gone is not-found too', async () => {
    const err = await failure(() =>
      drain(fetchPartition(server.address, request('job-1/m-gone/a1', 0))),
    );
    expect(err.details).toMatchObject({ reason: 'not-found', mapOutputId: 'job-1/m-gone/a1' });
  });

  it('a corrupt run file fails as corrupt, carrying the server-side STRATA_E_RUN_FILE_CORRUPT as its cause', async () => {
    const err = await failure(() =>
      drain(fetchPartition(server.address, request('job-1/m-bad/a1', 2))),
    );
    expect(err.details).toMatchObject({ reason: 'corrupt', grpcCode: 'DATA_LOSS' });
    expect(isStrataError(err.cause, 'STRATA_E_RUN_FILE_CORRUPT')).toBe(true);
    // The other partitions of that file are intact and still served.
    expect(await drain(fetchPartition(server.address, request('job-1/m-bad/a1', 3)))).toBe(
      COUNTS[3],
    );
  });

  it('a partition outside the map output is refused', async () => {
    const err = await failure(() =>
      drain(fetchPartition(server.address, request('job-1/m-0/a1', 9))),
    );
    expect(err.details).toMatchObject({ reason: 'failed', grpcCode: 'INVALID_ARGUMENT' });
    expect(err.message).toContain('partition 9');
  });

  it('a fetch resumes from startBatch where a failed one stopped', async () => {
    const all = [];
    for await (const c of fetchBatches(server.address, request('job-1/m-0/a1', 0))) all.push(c);
    const tail = [];
    for await (const c of fetchBatches(
      server.address,
      request('job-1/m-0/a1', 0, { startBatch: 10 }),
    ))
      tail.push(c);
    expect(tail.length).toBe(all.length - 10);
    expect(tail[0]!.index).toBe(10);
    expect(tail[0]!.batch.equals(all[10]!.batch)).toBe(true);
  });

  it('Ping answers with the protocol and the pid of the server process', async () => {
    expect(await pingShuffleServer(server.address)).toMatchObject({
      protocol: 'strata-shuffle/1',
      pid: server.pid,
    });
  });

  it('killing the server process mid-stream makes the fetch fail promptly, not hang', async () => {
    const victim = await spawnShuffleServer(TOKEN, { 'job-1/m-0/a1': runFile });
    let received = 0;
    let killedAt = 0;
    const err = await failure(async () => {
      for await (const entries of fetchPartition(victim.address, request('job-1/m-0/a1', 0), {
        idleTimeoutMs: 30_000,
      })) {
        received += entries.length;
        if (killedAt === 0) {
          victim.child.kill('SIGKILL');
          killedAt = Date.now();
        }
      }
    });
    const tookMs = Date.now() - killedAt;
    await victim.stop();
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED')).toBe(true);
    expect(err.details).toMatchObject({
      address: victim.address,
      mapOutputId: 'job-1/m-0/a1',
      partition: 0,
    });
    expect(received).toBeLessThan(COUNTS[0]!);
    expect(tookMs).toBeLessThan(3000);
  });

  it('a frozen server (SIGSTOP) makes the fetch fail after the idle timeout', async () => {
    const frozen = await spawnShuffleServer(TOKEN, { 'job-1/m-0/a1': runFile });
    try {
      const started = Date.now();
      const err = await failure(async () => {
        let first = true;
        for await (const _ of fetchPartition(frozen.address, request('job-1/m-0/a1', 0), {
          idleTimeoutMs: 500,
        })) {
          if (first) process.kill(frozen.pid, 'SIGSTOP');
          first = false;
        }
      });
      expect(err.details).toMatchObject({ reason: 'idle-timeout', mapOutputId: 'job-1/m-0/a1' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      process.kill(frozen.pid, 'SIGCONT');
      await frozen.stop();
    }
  });
});

describe('shuffle server flow control (in process)', () => {
  let dir: string;
  let runFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-shuffle-'));
    runFile = path.join(dir, 'm.run');
    await writeRunFile(runFile, sortedEntries([40_000], 1000), { partitions: 1 }); // ~40 MB, ~155 batches
  });
  afterAll(async () => {
    closeShuffleClients();
    await rm(dir, { recursive: true, force: true });
  });

  it('a slow reducer holds the server back instead of making it read the whole partition', async () => {
    const shuffle = await startShuffleServer({ token: TOKEN, resolve: () => runFile });
    try {
      const run = await openRunFile(runFile);
      const total = run.partitions[0]!.batches;
      await run.close();
      const stream = fetchBatches(shuffle.address, request('m', 0));
      await stream.next();
      await new Promise((r) => setTimeout(r, 300));
      const sentWhilePaused = shuffle.stats().batchesSent;
      expect(sentWhilePaused).toBeLessThan(total / 2);
      let rest = 0;
      for await (const _ of stream) rest++;
      expect(1 + rest).toBe(total);
      expect(shuffle.stats().batchesSent).toBe(total);
    } finally {
      await shuffle.stop();
    }
  });

  it('a reducer that stops early releases the stream on the server', async () => {
    const shuffle = await startShuffleServer({ token: TOKEN, resolve: () => runFile });
    try {
      for await (const _ of fetchPartition(shuffle.address, request('m', 0))) break;
      await expect.poll(() => shuffle.stats().activeStreams, { timeout: 2000 }).toBe(0);
      expect(shuffle.stats().batchesSent).toBeLessThan(100);
    } finally {
      await shuffle.stop();
    }
  });

  it('stop() cuts a stream still running after the grace period, and the reducer sees the fetch fail', async () => {
    const shuffle = await startShuffleServer({ token: TOKEN, resolve: () => runFile });
    const stream = fetchPartition(shuffle.address, request('m', 0));
    await stream.next(); // then the reducer stalls, so the stream cannot finish by itself
    const started = Date.now();
    await shuffle.stop(200);
    expect(Date.now() - started).toBeLessThan(2000);
    const err = await failure(async () => {
      for await (const _ of stream);
    });
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED')).toBe(true);
  });

  it('aborting the signal ends the fetch with the abort reason', async () => {
    const shuffle = await startShuffleServer({ token: TOKEN, resolve: () => runFile });
    try {
      const controller = new AbortController();
      const err = await failure(async () => {
        for await (const _ of fetchPartition(shuffle.address, request('m', 0), {
          signal: controller.signal,
        }))
          controller.abort(new Error('reducer cancelled'));
      });
      expect(err.message).toBe('reducer cancelled');
      await expect.poll(() => shuffle.stats().activeStreams, { timeout: 2000 }).toBe(0);
    } finally {
      await shuffle.stop();
    }
  });

  it('a ping to an address where nothing listens fails with STRATA_E_SHUFFLE_FETCH_FAILED', async () => {
    const shuffle = await startShuffleServer({ token: TOKEN, resolve: () => undefined });
    await shuffle.stop();
    const err = await failure(() => pingShuffleServer(shuffle.address, 1000));
    expect(isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED')).toBe(true);
    expect(err.details).toMatchObject({ address: shuffle.address, reason: 'unavailable' });
  });

  it('an empty token is refused at start', async () => {
    expect(
      isStrataError(
        await startShuffleServer({ token: '', resolve: () => undefined }).catch((e: unknown) => e),
        'STRATA_E_CONFIG',
      ),
    ).toBe(true);
  });
});
