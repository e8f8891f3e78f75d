/**
 * One reduce input: a partition of one map output, fetched over gRPC as a batch source for the
 * k-way merge, resumed where it broke off after a transient failure.
 *
 *   const source = shuffleSource(location, { jobId, partition, token }, stats);
 *   for await (const entries of source) …;   // ShuffleEntry[] per ~256 KiB batch
 *
 * A dropped stream or an idle peer is asked again from the first batch not yet received, at most
 * `retries` times. A missing or corrupt output, a wrong token or a deadline is not retried here:
 * the shuffle client's StrataError (details: address, mapOutputId, partition, reason) is thrown as
 * is, so the coordinator knows which map to re-run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isStrataError, StrataError } from '../../core/errors.ts';
import type { MapOutputLocation } from '../../core/tasks/task-payload.ts';
import { decodeBatch, type ShuffleEntry } from '../shuffle/run-file.ts';
import { fetchBatches, type FetchPartitionOptions } from '../shuffle/shuffle-client.ts';

export interface ShuffleSourceRequest {
  jobId: string;
  partition: number;
  token: string;
}

export interface ShuffleSourceOptions extends FetchPartitionOptions {
  /** Resumes after a dropped stream. Default 2. */
  retries?: number;
  /** Wait before the first resume; doubled for each next one. Default 250 ms. */
  retryDelayMs?: number;
}

export interface ShuffleStats {
  bytes: number;
  batches: number;
  entries: number;
}

const RESUMABLE = new Set(['unavailable', 'idle-timeout', 'failed']);

export async function* shuffleSource(
  location: MapOutputLocation,
  req: ShuffleSourceRequest,
  stats: ShuffleStats,
  options: ShuffleSourceOptions = {},
): AsyncGenerator<ShuffleEntry[]> {
  const retries = options.retries ?? 2;
  let delay = options.retryDelayMs ?? 250;
  let received = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const batches = fetchBatches(
        location.address,
        {
          jobId: req.jobId,
          mapOutputId: location.mapOutputId,
          partition: req.partition,
          token: req.token,
          startBatch: received,
        },
        options,
      );
      for await (const chunk of batches) {
        let entries: ShuffleEntry[];
        try {
          entries = decodeBatch(
            chunk.batch,
            chunk.records,
            `map output ${location.mapOutputId} from ${location.address}`,
          );
        } catch (err) {
          throw new StrataError(
            'STRATA_E_SHUFFLE_FETCH_FAILED',
            `fetching partition ${req.partition} of map output ${location.mapOutputId} (job ${req.jobId}) from ${location.address} failed: ${(err as Error).message}`,
            {
              details: {
                address: location.address,
                jobId: req.jobId,
                mapOutputId: location.mapOutputId,
                partition: req.partition,
                reason: 'corrupt',
                batchesReceived: received,
              },
              cause: err,
            },
          );
        }
        received++;
        stats.batches++;
        stats.bytes += chunk.batch.length;
        stats.entries += entries.length;
        yield entries;
      }
      return;
    } catch (err) {
      const reason = isStrataError(err, 'STRATA_E_SHUFFLE_FETCH_FAILED')
        ? err.details?.reason
        : undefined;
      if (
        attempt >= retries ||
        typeof reason !== 'string' ||
        !RESUMABLE.has(reason) ||
        options.signal?.aborted
      )
        throw err;
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
      delay *= 2;
    }
  }
}
