/**
 * Everything that crosses the queue between the coordinator and the workers: the BullMQ job
 * `data` of each task kind and what a finished task returns. The coordinator and the workers
 * never import each other; they meet here (and in proto/ for the shuffle).
 *
 *   const task: MapTask = { kind: 'map', jobId, taskId: 'm-0', attempt: 1, … };
 *   await queue.add(task.kind, task, { jobId: bullJobId(task) });
 */

export type ParamValue = string | number | boolean;

/**
 * The JSON-able part of a job definition that the CLI posts to the coordinator (no user code):
 * the job's `staticSpec()` (jobs/types.ts StaticJobSpec) plus the hash of its bundle.
 */
export interface JobSpec {
  name: string;
  view: string;
  input: { dataset: string; from?: string; to?: string };
  partitions: number;
  /** 'reduce' for a user reduce function, 'aggregate:<name>' for an aggregator. */
  reduce: string;
  aggregateOptions?: Record<string, ParamValue>;
  /** Whether map output is combined map-side. */
  combine: boolean;
  /** The job's params defaults overridden by `--param k=v`. */
  params: Record<string, ParamValue>;
  /** sha256 (hex) of the bundle stored at code/<codeHash>.mjs. */
  codeHash: string;
  /** Bad records the job may skip and quarantine (defineJob's badRecords); absent means 0. */
  badRecords?: { max: number };
  /** Set by the coordinator on the batch run of a realtime view (see RealtimeBoundary). */
  realtime?: RealtimeBoundary;
}

/**
 * Where a realtime view's batch run ends: it read every segment up to and including the sealed
 * speed bucket `boundary`, and its view stores aggregator accumulators (so servers can merge the
 * realtime buckets after the boundary into them).
 */
export interface RealtimeBoundary {
  boundary: number;
  bucketMs: number;
}

/** Per-task and per-job counters, summed by the coordinator into the manifest. */
export interface Counters {
  recordsIn: number;
  recordsOut: number;
  bytesIn: number;
  bytesOut: number;
  badRecords: number;
  spills: number;
  spilledBytes: number;
  shuffleBytes: number;
  durationMs: number;
}

export function emptyCounters(): Counters {
  return {
    recordsIn: 0,
    recordsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    badRecords: 0,
    spills: 0,
    spilledBytes: 0,
    shuffleBytes: 0,
    durationMs: 0,
  };
}

export function addCounters(a: Counters, b: Partial<Counters>): Counters {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Counters)[]) out[k] += b[k] ?? 0;
  return out;
}

/** A byte range of one segment, cut on block boundaries by the coordinator. */
export interface Split {
  segmentKey: string;
  /** First block index (inclusive) and last block index (exclusive). */
  startBlock: number;
  endBlock: number;
  /** Byte offsets of those blocks: [startOffset, endOffset). */
  startOffset: number;
  endOffset: number;
  records: number;
}

interface TaskBase {
  jobId: string;
  taskId: string;
  attempt: number;
  codeHash: string;
}

export interface MapTask extends TaskBase {
  kind: 'map';
  split: Split;
  partitions: number;
  params: Record<string, ParamValue>;
}

export interface MapOutputLocation {
  /** The map task that produced it. */
  taskId: string;
  /** Names one attempt's output on one worker: `<jobId>/<taskId>-a<attempt>`. */
  mapOutputId: string;
  /** host:port of the worker's ShuffleService. */
  address: string;
}

export interface ReduceTask extends TaskBase {
  kind: 'reduce';
  partition: number;
  mapOutputs: MapOutputLocation[];
  /** Attempt-scoped temporary key; only the coordinator's commit makes it visible. */
  outputKey: string;
  params: Record<string, ParamValue>;
  /** Store each key's encoded accumulator instead of its result (a realtime view's batch run). */
  accumulators?: boolean;
}

/** A plain function call on the pool (not MapReduce). */
export interface CallTask {
  kind: 'call';
  jobId: string;
  taskId: string;
  attempt: number;
  codeHash: string;
  exportName: string;
  args: unknown[];
}

export type Task = MapTask | ReduceTask | CallTask;

export interface MapResult {
  kind: 'map';
  output: MapOutputLocation;
  workerId: string;
  counters: Counters;
}

export interface ReduceResult {
  kind: 'reduce';
  outputKey: string;
  workerId: string;
  counters: Counters;
}

export interface CallResult {
  kind: 'call';
  workerId: string;
  value: unknown;
  durationMs: number;
}

export type TaskResult = MapResult | ReduceResult | CallResult;

/** One BullMQ job id per task attempt, so a re-enqueue of the same attempt is a no-op. */
export function bullJobId(task: Pick<Task, 'jobId' | 'taskId' | 'attempt'>): string {
  return `${task.jobId}.${task.taskId}.${task.attempt}`;
}

export function mapOutputId(task: Pick<MapTask, 'jobId' | 'taskId' | 'attempt'>): string {
  return `${task.jobId}/${task.taskId}-a${task.attempt}`;
}

/** The BullMQ queue every task goes through, under the cluster's Redis prefix. */
export const TASK_QUEUE = 'tasks';

/**
 * Where a job's quarantined bad records are: one NDJSON file per map attempt (worker writes,
 * coordinator and `strata status` name it).
 */
export const quarantinePrefix = (jobId: string): string => `quarantine/${jobId}/`;
export const quarantineKey = (task: Pick<MapTask, 'jobId' | 'taskId' | 'attempt'>): string =>
  `${quarantinePrefix(task.jobId)}${task.taskId}-a${task.attempt}.ndjson`;

/**
 * The end of every STRATA_E_JOB_BAD_RECORDS message, after where the records are: how to print
 * them, and a budget to raise to (well above what was met: a task saw only part of the input).
 */
export function badRecordsAdvice(jobId: string, met: number, max: number): string {
  return (
    `(strata status ${jobId} --quarantine prints them). ` +
    `Fix the job or the input, or, if such records are expected, raise the budget: badRecords: { max: ${Math.max(met * 2, max * 10)} } in defineJob.`
  );
}
