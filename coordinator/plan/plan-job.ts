/**
 * Plans a job at submit time: checks its bundle exists, lists its input segments (pruned by
 * date), reads their footers and cuts map splits. Every problem is found here, before anything
 * is recorded or enqueued, so a bad submission is a clear 400 and leaves no trace.
 *
 *   const plan = await planJob(store, spec, { splitTargetBytes: config.splitTargetBytes });
 *   plan.splits.length   // map tasks
 *   plan.input.segments  // the lineage that goes into the manifest
 */
import { parseSegmentKey } from '../../core/dataset/dataset-layout.ts';
import { listSegments } from '../../core/dataset/list-segments.ts';
import { listSegmentsWithFooters } from '../../core/dataset/dataset-stats.ts';
import { isStrataError, StrataError } from '../../core/errors.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { JobSpec, Split } from '../../core/tasks/task-payload.ts';
import type { PlannedInput } from '../state/job-store.ts';
import { cutSplits } from './cut-splits.ts';

export interface JobPlan {
  splits: Split[];
  input: PlannedInput;
  /** Bytes of the input segments in the store. */
  inputBytes: number;
  inputRecords: number;
}

export const bundleKey = (codeHash: string): string => `code/${codeHash}.mjs`;

export interface PlanOptions {
  splitTargetBytes: number;
  /**
   * A realtime view's batch run: only segments of speed buckets up to this one (and every
   * file-ingested segment).
   */
  maxBucket?: number;
}

export async function planJob(
  store: ObjectStore,
  spec: JobSpec,
  opts: PlanOptions,
): Promise<JobPlan> {
  await checkBundle(store, spec.codeHash);
  const { dataset, from, to } = spec.input;
  const range = { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
  const maxBucket = opts.maxBucket;
  const segments = await listSegmentsWithFooters(
    store,
    dataset,
    range,
    maxBucket === undefined
      ? undefined
      : (s) => (parseSegmentKey(s.key)?.bucket ?? -1) <= maxBucket,
  ).catch((err: unknown) => {
    // A realtime view may be registered before its first event: its first version is empty.
    if (maxBucket !== undefined && isStrataError(err, 'STRATA_E_DATASET_NOT_FOUND')) return [];
    throw err;
  });
  const splits = segments.flatMap((s) => cutSplits(s.key, s.footer.blocks, opts.splitTargetBytes));
  if (splits.length === 0 && maxBucket === undefined) throw await emptyRange(store, dataset, range);
  let minTime: number | null = null;
  let maxTime: number | null = null;
  for (const { footer } of segments) {
    if (footer.minTime !== null && (minTime === null || footer.minTime < minTime))
      minTime = footer.minTime;
    if (footer.maxTime !== null && (maxTime === null || footer.maxTime > maxTime))
      maxTime = footer.maxTime;
  }
  return {
    splits,
    input: {
      segments: segments.map((s) => ({ key: s.key, size: s.size, records: s.footer.records })),
      minTime,
      maxTime,
    },
    inputBytes: segments.reduce((n, s) => n + s.size, 0),
    inputRecords: segments.reduce((n, s) => n + s.footer.records, 0),
  };
}

async function checkBundle(store: ObjectStore, codeHash: string): Promise<void> {
  const key = bundleKey(codeHash);
  if (!(await store.stat(key))) {
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `the job's bundle ${key} is not in the store ${store.url}; submit with \`strata submit <job.ts>\`, which uploads it first, or put the bundle there`,
      {
        details: { codeHash, key },
      },
    );
  }
}

/** A range with no records is an error, never a silent empty view; name the days that do exist. */
async function emptyRange(
  store: ObjectStore,
  dataset: string,
  range: { from?: string; to?: string },
): Promise<StrataError> {
  const all = await listSegments(store, dataset);
  const days =
    all.length > 0 ? `; ${dataset} has data from ${all[0]!.date} to ${all.at(-1)!.date}` : '';
  const asked =
    range.from !== undefined || range.to !== undefined
      ? `from ${range.from ?? 'the start'} to ${range.to ?? 'the end'}`
      : 'at all';
  return new StrataError(
    'STRATA_E_DATE_RANGE',
    `dataset ${dataset} has no records ${asked}${days}; change the job's input dates`,
    {
      details: {
        dataset,
        ...range,
        ...(all.length > 0 ? { firstDate: all[0]!.date, lastDate: all.at(-1)!.date } : {}),
      },
    },
  );
}
