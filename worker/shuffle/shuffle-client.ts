/**
 * The reduce side of the shuffle: pulls one partition of one map output from a worker.
 *
 *   for await (const entries of fetchPartition('127.0.0.1:41234', { jobId, mapOutputId, partition: 3, token })) {
 *     for (const [key, value] of entries) …   // key order, one array per ~256 KiB batch
 *   }
 *
 * Backpressure is end to end: a batch is requested from the network only when the consumer asks
 * for the next one. Every failure becomes a StrataError naming the address, map output and
 * partition: STRATA_E_SHUFFLE_UNAUTHENTICATED for a wrong token, otherwise
 * STRATA_E_SHUFFLE_FETCH_FAILED with `details.reason` (not-found, corrupt, unavailable,
 * idle-timeout, deadline, failed) and `details.batchesReceived` (a resume point, `startBatch`).
 * A stream that delivers nothing for `idleTimeoutMs` is cancelled: a stuck or frozen peer never
 * hangs a reducer. Channels are cached per address; closeShuffleClients() closes them.
 */
import {
  credentials,
  Metadata,
  status,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { crc32 } from 'node:zlib';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import {
  MAX_SHUFFLE_MESSAGE_BYTES,
  ShuffleServiceClient,
  type FetchRequest,
  type PingReply,
  type ShuffleChunk,
} from '../../proto/shuffle.ts';
import { decodeBatch, type ShuffleEntry } from './run-file.ts';

export interface FetchPartitionRequest {
  jobId: string;
  mapOutputId: string;
  partition: number;
  token: string;
  /** Skip this many batches (resume after `details.batchesReceived` of a failed fetch). */
  startBatch?: number;
}

export interface FetchPartitionOptions {
  /** Fail if no chunk arrives for this long while we wait for one. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Fail if the whole fetch is not done within this long. Default: no limit. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export type FetchFailureReason =
  'not-found' | 'corrupt' | 'unavailable' | 'idle-timeout' | 'deadline' | 'failed';

type FetchCall = ClientReadableStream<ShuffleChunk>;
type ShuffleClient = Client & {
  Fetch(req: FetchRequest, options: { deadline?: number }): FetchCall;
  Ping(
    req: object,
    options: { deadline: number },
    cb: (err: ServiceError | null, reply: PingReply) => void,
  ): void;
};

const clients = new Map<string, ShuffleClient>();

function clientFor(address: string): ShuffleClient {
  let client = clients.get(address);
  if (!client) {
    client = new ShuffleServiceClient(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_SHUFFLE_MESSAGE_BYTES,
      'grpc.max_send_message_length': 1024 * 1024,
    }) as unknown as ShuffleClient;
    clients.set(address, client);
  }
  return client;
}

/** Closes every cached channel (at worker shutdown, and in tests). */
export function closeShuffleClients(): void {
  for (const client of clients.values()) client.close();
  clients.clear();
}

/** The chunks of one partition as sent (CRC- and order-checked), for callers that pass bytes on. */
export async function* fetchBatches(
  address: string,
  req: FetchPartitionRequest,
  opts: FetchPartitionOptions = {},
): AsyncGenerator<ShuffleChunk> {
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const startBatch = req.startBatch ?? 0;
  const where = {
    address,
    jobId: req.jobId,
    mapOutputId: req.mapOutputId,
    partition: req.partition,
  };
  opts.signal?.throwIfAborted();
  const call = clientFor(address).Fetch(
    {
      jobId: req.jobId,
      mapOutputId: req.mapOutputId,
      partition: req.partition,
      token: req.token,
      startBatch,
    },
    opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs },
  );
  // Swallow the 'error' event of a call we cancel ourselves; the iterator reports what matters.
  call.on('error', () => {});
  const iterator = call[Symbol.asyncIterator]() as AsyncIterator<ShuffleChunk>;
  let idle = false;
  let finished = false;
  let received = 0;
  const onAbort = () => call.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const timer = setTimeout(() => {
        idle = true;
        call.cancel();
      }, idleTimeoutMs);
      let next: IteratorResult<ShuffleChunk>;
      try {
        next = await iterator.next();
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      const chunk = next.value;
      if (chunk.index !== startBatch + received) {
        throw fetchError(
          'corrupt',
          `sent batch ${chunk.index} where batch ${startBatch + received} was due`,
          where,
          received,
        );
      }
      if (crc32(chunk.batch) !== chunk.crc32)
        throw fetchError(
          'corrupt',
          `batch ${chunk.index} failed its CRC32 check on arrival`,
          where,
          received,
        );
      received += 1;
      yield chunk;
    }
    finished = true;
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (err instanceof StrataError) throw err;
    throw fromServiceError(err as ServiceError, where, received, idle ? idleTimeoutMs : undefined);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // The consumer stopped early (break, throw) or we failed: release the stream on both sides.
    if (!finished) call.cancel();
  }
}

/** The entries of one partition, one array per batch, in key order. */
export async function* fetchPartition(
  address: string,
  req: FetchPartitionRequest,
  opts: FetchPartitionOptions = {},
): AsyncGenerator<ShuffleEntry[]> {
  let received = 0;
  for await (const chunk of fetchBatches(address, req, opts)) {
    let entries: ShuffleEntry[];
    try {
      entries = decodeBatch(
        chunk.batch,
        chunk.records,
        `map output ${req.mapOutputId} from ${address}`,
      );
    } catch (err) {
      const where = {
        address,
        jobId: req.jobId,
        mapOutputId: req.mapOutputId,
        partition: req.partition,
      };
      throw fetchError('corrupt', (err as Error).message, where, received, { cause: err });
    }
    received += 1;
    yield entries;
  }
}

/**
 * Answers { protocol, pid, activeStreams } or throws STRATA_E_SHUFFLE_FETCH_FAILED (reason
 * unavailable).
 */
export function pingShuffleServer(address: string, timeoutMs = 2000): Promise<PingReply> {
  return new Promise((resolve, reject) => {
    clientFor(address).Ping({}, { deadline: Date.now() + timeoutMs }, (err, reply) => {
      if (err)
        reject(
          new StrataError(
            'STRATA_E_SHUFFLE_FETCH_FAILED',
            `the shuffle server at ${address} did not answer a ping (${err.details || err.message})`,
            { details: { address, reason: 'unavailable', grpcCode: status[err.code] }, cause: err },
          ),
        );
      else resolve(reply);
    });
  });
}

interface Where {
  address: string;
  jobId: string;
  mapOutputId: string;
  partition: number;
}

function fetchError(
  reason: FetchFailureReason,
  why: string,
  where: Where,
  received: number,
  extra: { grpcCode?: string; cause?: unknown } = {},
): StrataError {
  return new StrataError(
    'STRATA_E_SHUFFLE_FETCH_FAILED',
    `fetching partition ${where.partition} of map output ${where.mapOutputId} (job ${where.jobId}) from ${where.address} failed: ${why}`,
    {
      details: {
        ...where,
        reason,
        batchesReceived: received,
        ...(extra.grpcCode ? { grpcCode: extra.grpcCode } : {}),
      },
      cause: extra.cause,
    },
  );
}

function fromServiceError(
  err: ServiceError,
  where: Where,
  received: number,
  idleTimeoutMs: number | undefined,
): StrataError {
  if (idleTimeoutMs !== undefined)
    return fetchError(
      'idle-timeout',
      `no data for ${idleTimeoutMs} ms (the worker is stuck or unreachable)`,
      where,
      received,
      { cause: err },
    );
  const grpcCode = status[err.code] ?? String(err.code);
  const cause = serverStrataError(err.metadata) ?? err;
  const said = err.details || err.message;
  switch (err.code) {
    case status.UNAUTHENTICATED:
      return new StrataError(
        'STRATA_E_SHUFFLE_UNAUTHENTICATED',
        `fetching map output ${where.mapOutputId} from ${where.address}: ${said}`,
        { details: { ...where, grpcCode }, cause },
      );
    case status.NOT_FOUND:
      return fetchError('not-found', said, where, received, { grpcCode, cause });
    case status.DATA_LOSS:
      return fetchError('corrupt', said, where, received, { grpcCode, cause });
    case status.DEADLINE_EXCEEDED:
      return fetchError(
        'deadline',
        'the fetch did not finish before its deadline',
        where,
        received,
        { grpcCode, cause },
      );
    case status.UNAVAILABLE:
      return fetchError(
        'unavailable',
        `the worker is unreachable or went away (${said})`,
        where,
        received,
        { grpcCode, cause },
      );
    default:
      return fetchError('failed', `${grpcCode}: ${said}`, where, received, { grpcCode, cause });
  }
}

/** The StrataError the server attached to its status, if any (see shuffle-server.ts). */
function serverStrataError(metadata: Metadata | undefined): StrataError | undefined {
  const raw = metadata?.get('strata-error-bin')[0];
  if (!raw) return undefined;
  try {
    return StrataError.fromJSON(
      JSON.parse(Buffer.from(raw as Buffer).toString('utf8')) as StrataErrorJSON,
    );
  } catch {
    return undefined;
  }
}
