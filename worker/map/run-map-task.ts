/**
 * One map task: read a split, call the job's map on every record, and leave the sorted, combined,
 * partitioned output in one run file on local disk for the shuffle server to serve.
 *
 *   const { path, counters } = await runMapTask(job, task, { store, workDir, memoryBudgetBytes });
 *
 * read split (block range) → map(record, emit, { params }) → encodeKey → MapBuffer (combines per
 * key, counts bytes) → over budget: sort + combine + spill a run file → at the end merge the runs
 * (combining again) into <workDir>/outputs/<jobId>/<taskId>-a<attempt>/output.run.
 *
 * Runs in a worker thread (threads/task-handlers.ts) but needs none: tests call it directly. The
 * attempt's folder is emptied first, so a re-run of the same attempt starts clean. Errors in the
 * job's code are non-retryable and say where: STRATA_E_JOB_MAP_FAILED names the segment, block,
 * record index and shows the record, with the user's error (and stack) as `cause`. A segment
 * block that fails its CRC is STRATA_E_SEGMENT_CORRUPT naming the segment and the block.
 *
 * Skip mode, for a job with `badRecords: { max }` above 0 (Hadoop's skip mode): a record map
 * throws on (or emits an unencodable key or value for) is skipped with everything it emitted, a
 * damaged block is skipped whole; both are counted in counters.badRecords and written to the
 * attempt's quarantine file (quarantine-file.ts). The coordinator fails the job when the sum over
 * its tasks passes `max` (coordinator/bad-record-budget.ts); a task that alone passes it stops at
 * once with STRATA_E_JOB_BAD_RECORDS.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, isStrataError, StrataError } from '../../core/errors.ts';
import { encodeKey, type Key, type KeyPart } from '../../core/keys/key-codec.ts';
import type { Logger } from '../../core/log.ts';
import { openSegment } from '../../core/segment/open-segment.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import {
  badRecordsAdvice,
  emptyCounters,
  mapOutputId,
  quarantinePrefix,
  type Counters,
  type MapTask,
} from '../../core/tasks/task-payload.ts';
import { describeValue, preview } from '../../jobs/describe-value.ts';
import { plainValueProblem } from '../../jobs/plain-value.ts';
import type { JobContext, JobDefinition } from '../../jobs/types.ts';
import { JobErrors } from '../job-errors.ts';
import { attemptDir } from '../map-outputs.ts';
import {
  openRunFile,
  writeRunFile,
  type RunFileReader,
  type RunFileSummary,
} from '../shuffle/run-file.ts';
import { MapBuffer, runEntries } from './map-buffer.ts';
import { mergeRuns } from './merge-runs.ts';
import { QuarantineFile } from './quarantine-file.ts';
import { shuffleCombiner } from './shuffle-combiner.ts';

export interface MapTaskEnv {
  store: ObjectStore;
  workDir: string;
  /** The buffer is spilled once its estimated heap reaches this (config.memoryBudgetBytes). */
  memoryBudgetBytes: number;
  log?: Logger;
  signal?: AbortSignal;
}

export interface MapTaskOutcome {
  mapOutputId: string;
  /** The map output run file. */
  path: string;
  counters: Counters;
}

export async function runMapTask(
  job: JobDefinition<unknown, unknown, unknown>,
  task: MapTask,
  env: MapTaskEnv,
): Promise<MapTaskOutcome> {
  const started = performance.now();
  const id = mapOutputId(task);
  const dir = attemptDir(env.workDir, id);
  if (dir === undefined)
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `map task ${task.taskId} of job ${task.jobId} makes the map output id ${JSON.stringify(id)}, which is not <jobId>/<taskId>-a<attempt> of [A-Za-z0-9_.-]`,
    );
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });

  const counters = emptyCounters();
  const errors = new JobErrors(job);
  const combiner = shuffleCombiner(job, errors);
  const buffer = new MapBuffer(combiner, task.partitions);
  const context: JobContext = Object.freeze({
    params: Object.freeze({ ...job.params, ...task.params }),
  });
  const { split } = task;
  const spills: RunFileSummary[] = [];
  const budget = job.badRecords?.max ?? 0; // a bundle built before badRecords existed has none
  const quarantine = budget > 0 ? new QuarantineFile(env.store, task, dir) : undefined;
  // Skip mode: the emits of the record being mapped, applied only once map returned, so a record
  // that throws half way leaves nothing behind.
  const pending: Array<[Uint8Array, KeyPart, unknown]> = [];

  // Where the record being mapped is, for messages; updated per record, read only on error.
  let block = split.startBlock;
  let index = 0;
  let position = 0;
  const where = () =>
    `the record at position ${position} of split ${task.taskId} (record ${index} of block ${block} of segment ${split.segmentKey})`;

  const emit = (key: KeyPart | Key, value: unknown): void => {
    let bytes: Uint8Array;
    try {
      bytes = encodeKey(Array.isArray(key) ? (key as Key) : [key as KeyPart]);
    } catch (err) {
      throw errors.own(
        new StrataError(
          'STRATA_E_JOB_VALUE',
          `${errors.label}: map emitted an invalid key ${describeValue(key)} for ${where()}: ${errorMessage(err)}`,
          {
            cause: err,
            details: { job: job.name, ...location() },
          },
        ),
      );
    }
    const problem = plainValueProblem(value);
    if (problem) {
      throw errors.own(
        new StrataError(
          'STRATA_E_JOB_VALUE',
          `${errors.label}: map emitted a value for ${where()} that cannot cross the shuffle: ${problem}. Emit plain data (numbers, strings, arrays, plain objects).`,
          {
            details: { job: job.name, ...location() },
          },
        ),
      );
    }
    const row = Array.isArray(key) ? (key as Key)[0]! : (key as KeyPart);
    if (quarantine) {
      pending.push([bytes, row, value]);
      return;
    }
    buffer.add(bytes, row, value, where);
    counters.recordsOut++;
  };
  const location = () => ({ segmentKey: split.segmentKey, block, recordIndex: index, position });

  const spill = async () => {
    const file = path.join(dir, `spill-${spills.length}.run`);
    const summary = await writeRunFile(file, runEntries(buffer.drain()), {
      partitions: task.partitions,
    });
    spills.push(summary);
    counters.spills++;
    counters.spilledBytes += summary.bytes;
    env.log?.debug(
      { spill: spills.length, bytes: summary.bytes, records: summary.records },
      'map buffer spilled',
    );
  };

  /**
   * In skip mode: counts one more lot of bad records and stops the task once it alone passes the
   * budget.
   */
  const skipped = async (n: number, last: string) => {
    counters.badRecords += n;
    if (counters.badRecords <= budget) return;
    const file = await quarantine!.commit().catch(() => undefined);
    throw new StrataError(
      'STRATA_E_JOB_BAD_RECORDS',
      `${errors.label}: map task ${task.taskId} alone met ${counters.badRecords.toLocaleString('en-US')} bad records, more than the job's budget of badRecords.max = ${budget.toLocaleString('en-US')}; the last: ${last}. ` +
        `They are quarantined in ${file ?? quarantinePrefix(task.jobId)} ${badRecordsAdvice(task.jobId, counters.badRecords, budget)}`,
      {
        details: {
          job: job.name,
          jobId: task.jobId,
          taskId: task.taskId,
          badRecords: counters.badRecords,
          max: budget,
          quarantine: file ?? quarantinePrefix(task.jobId),
        },
      },
    );
  };

  try {
    const segment = await openSegment(env.store, split.segmentKey);
    for await (const decoded of segment.blocks(
      { fromBlock: split.startBlock, toBlock: split.endBlock },
      { skipCorrupt: quarantine !== undefined },
    )) {
      env.signal?.throwIfAborted();
      block = decoded.index;
      counters.bytesIn += decoded.info.length;
      if (decoded.corrupt) {
        const { count, offset } = decoded.info;
        env.log?.warn(
          { segmentKey: split.segmentKey, block, records: count, err: decoded.corrupt },
          'skipped a damaged segment block (the job has a bad-record budget)',
        );
        await quarantine!.addBlock({
          segment: split.segmentKey,
          block,
          offset,
          records: count,
          code: decoded.corrupt.code,
          error: decoded.corrupt.message,
        });
        position += count;
        await skipped(
          count,
          `block ${block} of ${split.segmentKey} (${count} records) is damaged: ${decoded.corrupt.message}`,
        );
        continue;
      }
      const records = decoded.records;
      for (index = 0; index < records.length; index++, position++) {
        const record = records[index];
        let returned: unknown;
        try {
          returned = job.map(record, emit, context);
        } catch (err) {
          const failure = errors.isOwn(err)
            ? (err as StrataError)
            : new StrataError(
                'STRATA_E_JOB_MAP_FAILED',
                `${errors.label}: map threw on ${where()}: ${errorMessage(err)}. The record: ${preview(record)}`,
                {
                  cause: err,
                  details: { job: job.name, ...location(), record: preview(record) },
                },
              );
          if (!quarantine || !isRecordFault(failure)) throw failure;
          pending.length = 0;
          const user = failure.code === 'STRATA_E_JOB_MAP_FAILED' ? err : failure;
          await quarantine.addRecord({
            segment: split.segmentKey,
            block,
            record: index,
            position,
            code: failure.code,
            error: errorMessage(user),
            ...(user instanceof Error && user.stack
              ? { stack: user.stack.split('\n').slice(0, 6).join('\n') }
              : {}),
            value: record,
          });
          await skipped(1, failure.message);
          continue;
        }
        if (typeof (returned as { then?: unknown } | undefined)?.then === 'function') {
          throw new StrataError(
            'STRATA_E_JOB_MAP_FAILED',
            `${errors.label}: map returned a Promise for ${where()}; map must be synchronous (emit inside map, do not await).`,
            {
              details: { job: job.name, ...location() },
            },
          );
        }
        if (pending.length > 0) {
          for (const [bytes, row, value] of pending) buffer.add(bytes, row, value, where);
          counters.recordsOut += pending.length;
          pending.length = 0;
        }
        if (buffer.bytes >= env.memoryBudgetBytes) await spill();
      }
      counters.recordsIn += records.length;
    }
  } catch (err) {
    // What was quarantined before a failure is still worth reading.
    if (quarantine && !isStrataError(err, 'STRATA_E_JOB_BAD_RECORDS'))
      await quarantine.commit().catch(() => undefined);
    if (isStrataError(err, 'STRATA_E_SEGMENT_CORRUPT') && !quarantine) {
      // No cause: the message already holds the reader's words, and its stack is ours, not the
      // user's.
      throw new StrataError(
        'STRATA_E_SEGMENT_CORRUPT',
        `${errors.label}: ${err.message}. To run the job anyway, skipping damaged blocks and counting their records as bad, give it a budget: badRecords: { max: N } in defineJob`,
        {
          details: { job: job.name, jobId: task.jobId, taskId: task.taskId, ...err.details },
        },
      );
    }
    throw err;
  }
  if (quarantine) await quarantine.commit();

  const output = path.join(dir, 'output.run');
  let summary: RunFileSummary;
  if (spills.length === 0) {
    summary = await writeRunFile(output, runEntries(buffer.drain()), {
      partitions: task.partitions,
    });
  } else {
    const readers: RunFileReader[] = [];
    try {
      for (const s of spills) readers.push(await openRunFile(s.path));
      summary = await writeRunFile(
        output,
        mergeRuns(readers, buffer.drain(), combiner, task.partitions),
        { partitions: task.partitions },
      );
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
    await Promise.all(spills.map((s) => rm(s.path, { force: true })));
  }
  counters.bytesOut = summary.bytes;
  counters.durationMs = Math.round(performance.now() - started);
  return { mapOutputId: id, path: output, counters };
}

/**
 * Errors a single record causes: map threw on it, or emitted a key or value that cannot be encoded
 * for it.
 */
function isRecordFault(err: StrataError): boolean {
  return err.code === 'STRATA_E_JOB_MAP_FAILED' || err.code === 'STRATA_E_JOB_VALUE';
}
