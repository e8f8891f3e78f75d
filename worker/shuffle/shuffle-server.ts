/**
 * A worker's shuffle endpoint: streams partitions of the map outputs on its disk to reducers.
 *
 *   const shuffle = await startShuffleServer({ token, resolve: (id) => outputs.get(id)?.path });
 *   // a map task's result names shuffle.address ('127.0.0.1:41234') and its mapOutputId
 *   await shuffle.stop();
 *
 * `resolve` maps a map output id to its run file (see run-file.ts), or undefined if this worker
 * does not have it; the reply is then NOT_FOUND naming the output, so the reducer can report it
 * and the coordinator re-runs that map. Batches are sent as stored (no decoding) and only as fast
 * as the reducer takes them: when `call.write()` returns false we wait for 'drain' (or for the
 * reducer to go away), so a slow reducer never makes us read a whole partition into memory.
 * Statuses are listed in proto/shuffle.proto; a StrataError behind a status (e.g. a corrupt run
 * file) also travels in the `strata-error-bin` trailer as JSON.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { isStrataError, StrataError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import {
  MAX_SHUFFLE_MESSAGE_BYTES,
  SHUFFLE_PROTOCOL,
  shuffleServiceDefinition,
  type FetchRequest,
  type PingReply,
  type PingRequest,
  type ShuffleChunk,
} from '../../proto/shuffle.ts';
import { openRunFile, type RunFileReader } from './run-file.ts';

export interface ShuffleServerOptions {
  /** Default '127.0.0.1': loopback unless the deployment says otherwise. */
  host?: string;
  /** Default 0: any free port; the bound one is in `address`. */
  port?: number;
  /** Reducers must send this token; all workers of a cluster share it. */
  token: string;
  /** The run file holding `mapOutputId`, or undefined if this worker does not have it. */
  resolve: (
    mapOutputId: string,
    partition: number,
    jobId: string,
  ) => string | undefined | Promise<string | undefined>;
  log?: Logger;
}

export interface ShuffleServerStats {
  activeStreams: number;
  /** Totals since start, counted when a batch is handed to grpc-js. */
  batchesSent: number;
  bytesSent: number;
}

export interface ShuffleServer {
  /** host:port to hand to reducers, e.g. '127.0.0.1:41234'. */
  address: string;
  port: number;
  stats(): ShuffleServerStats;
  /** Lets running streams finish for up to `graceMs` (default 2 000), then cuts them. */
  stop(graceMs?: number): Promise<void>;
}

/** Fails the call with `code`; `strataError`, if any, rides along in the trailer. */
function statusError(
  code: status,
  message: string,
  strataError?: StrataError,
): Error & { code: status; details: string; metadata?: Metadata } {
  const err = Object.assign(new Error(message), { code, details: message }) as Error & {
    code: status;
    details: string;
    metadata?: Metadata;
  };
  if (strataError) {
    const metadata = new Metadata();
    const { stack: _stack, ...json } = strataError.toJSON();
    metadata.set('strata-error-bin', Buffer.from(JSON.stringify(json)));
    err.metadata = metadata;
  }
  return err;
}

export async function startShuffleServer(opts: ShuffleServerOptions): Promise<ShuffleServer> {
  if (!opts.token)
    throw new StrataError(
      'STRATA_E_CONFIG',
      'the shuffle server needs a non-empty token: give every worker of the cluster the same shuffle token',
    );
  const host = opts.host ?? '127.0.0.1';
  const expected = Buffer.from(opts.token, 'utf8');
  const log = opts.log?.child({ component: 'shuffle-server' });
  const stats: ShuffleServerStats = { activeStreams: 0, batchesSent: 0, bytesSent: 0 };

  const tokenOk = (token: string) => {
    const given = Buffer.from(token, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  async function fetch(call: ServerWritableStream<FetchRequest, ShuffleChunk>): Promise<void> {
    const { jobId, mapOutputId, partition, token, startBatch } = call.request;
    const fail = (code: status, message: string, cause?: StrataError) => {
      log?.warn(
        { jobId, mapOutputId, partition, code: status[code], peer: call.getPeer() },
        message,
      );
      call.emit('error', statusError(code, message, cause));
    };
    if (!tokenOk(token))
      return fail(
        status.UNAUTHENTICATED,
        `shuffle token rejected by ${address}: every worker of a cluster must be given the same shuffle token`,
      );

    let reader: RunFileReader | undefined;
    stats.activeStreams += 1;
    try {
      const path = await opts.resolve(mapOutputId, partition, jobId);
      if (path === undefined)
        return fail(
          status.NOT_FOUND,
          `map output ${mapOutputId} (job ${jobId}) is not on the worker at ${address}; re-run that map task`,
        );
      try {
        reader = await openRunFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          return fail(
            status.NOT_FOUND,
            `map output ${mapOutputId} (job ${jobId}): its run file ${path} is gone from the worker at ${address}; re-run that map task`,
          );
        throw err;
      }
      if (partition >= reader.partitions.length) {
        return fail(
          status.INVALID_ARGUMENT,
          `map output ${mapOutputId} has partitions 0…${reader.partitions.length - 1}; partition ${partition} was asked for`,
        );
      }
      // Read one batch ahead, so the disk read overlaps sending the previous batch.
      const batches = reader.batches(partition, { startBatch });
      let next = batches.next();
      try {
        for (;;) {
          const { value: batch, done } = await next;
          if (done || call.cancelled) break;
          next = batches.next();
          stats.batchesSent += 1;
          stats.bytesSent += batch.bytes.length;
          const roomLeft = call.write({
            batch: batch.bytes,
            records: batch.records,
            crc32: batch.crc32,
            index: batch.index,
          } satisfies ShuffleChunk);
          if (!roomLeft && !(await drained(call))) break;
        }
      } finally {
        // A read still in flight when we stop early must neither leak nor reject unobserved.
        await next.catch(() => {});
        await batches.return(undefined);
      }
      if (!call.cancelled) call.end();
    } catch (err) {
      if (isStrataError(err, 'STRATA_E_RUN_FILE_CORRUPT'))
        return fail(status.DATA_LOSS, `map output ${mapOutputId}: ${err.message}`, err);
      const wrapped = isStrataError(err)
        ? err
        : new StrataError(
            'STRATA_E_INTERNAL',
            `serving map output ${mapOutputId} partition ${partition} failed: ${(err as Error).message}`,
            { cause: err },
          );
      fail(status.INTERNAL, wrapped.message, wrapped);
    } finally {
      stats.activeStreams -= 1;
      await reader?.close().catch(() => {});
    }
  }

  function ping(
    _call: ServerUnaryCall<PingRequest, PingReply>,
    callback: sendUnaryData<PingReply>,
  ): void {
    callback(null, {
      protocol: SHUFFLE_PROTOCOL,
      pid: process.pid,
      activeStreams: stats.activeStreams,
    });
  }

  const server = new Server({
    // Requests are tiny; what we send may be a whole (large) batch.
    'grpc.max_receive_message_length': 1024 * 1024,
    'grpc.max_send_message_length': MAX_SHUFFLE_MESSAGE_BYTES,
    // Notice reducers that vanished without closing, so their streams stop holding files open.
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(shuffleServiceDefinition, {
    Fetch: (call: ServerWritableStream<FetchRequest, ShuffleChunk>) => void fetch(call),
    Ping: ping,
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host.includes(':') ? `[${host}]` : host}:${opts.port ?? 0}`,
      ServerCredentials.createInsecure(),
      (err, bound) => {
        if (err) {
          reject(
            new StrataError(
              'STRATA_E_CONFIG',
              `the shuffle server cannot listen on ${host}:${opts.port ?? 0} (${err.message}); choose another host or port`,
              { cause: err },
            ),
          );
        } else resolve(bound);
      },
    );
  });
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.info({ address }, 'shuffle server listening');

  let stopping: Promise<void> | undefined;
  return {
    address,
    port,
    stats: () => ({ ...stats }),
    stop: (graceMs = 2000) =>
      (stopping ??= new Promise<void>((resolve) => {
        // forceShutdown destroys the sessions, but tryShutdown's callback may then never come
        // (grpc-js 1.14 waits for a close that a destroyed session does not always report).
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}

/** Waits until the stream can take more; false if the reducer went away meanwhile. */
function drained(call: ServerWritableStream<FetchRequest, ShuffleChunk>): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (ok: boolean) => () => {
      call.off('drain', onDrain);
      call.off('cancelled', onGone);
      call.off('close', onGone);
      resolve(ok);
    };
    const onDrain = finish(true);
    const onGone = finish(false);
    call.on('drain', onDrain);
    call.on('cancelled', onGone);
    call.on('close', onGone);
    if (call.cancelled) onGone();
  });
}
