/**
 * One task as the coordinator keeps it in Redis (`<P>:job:<id>:tasks`, field = task id).
 *
 *   const rec = decodeTaskRecord(await redis.hget(tasksKey, 'm-0'));
 *   rec.state; rec.attempt; rec.output?.address
 *
 * Stored form: a flat JSON object whose structured parts (split, output, counters, errors) are
 * themselves JSON strings. The Lua transition scripts decode and re-encode the outer object with
 * Redis's cjson, which turns empty arrays into objects and rounds numbers past 14 digits; nested
 * strings pass through it untouched, so what the workers reported is kept exactly.
 */
import type { StrataErrorJSON } from '../../core/errors.ts';
import type { Counters, MapOutputLocation, Split } from '../../core/tasks/task-payload.ts';
import type { TaskState } from './task-state.ts';

export type TaskKind = 'map' | 'reduce';

export interface TaskRecord {
  taskId: string;
  kind: TaskKind;
  state: TaskState;
  /** The current attempt, from 1. */
  attempt: number;
  /** Failed attempts that count against config.taskAttempts (a lost map output does not). */
  failures: number;
  /** Map tasks: the byte range they read. */
  split?: Split;
  /** Reduce tasks: their partition. */
  partition?: number;
  /** The worker that ran the current attempt (from its result). */
  worker?: string;
  /** Map tasks, once succeeded: where the reducers fetch its output. */
  output?: MapOutputLocation;
  /** Reduce tasks, once succeeded: the attempt's file under tmp/. */
  outputKey?: string;
  counters?: Counters;
  /** The error that ended the task (state failed). */
  error?: StrataErrorJSON;
  /** The error of the most recent failed attempt. */
  lastError?: StrataErrorJSON;
  pendingAt?: number;
  queuedAt?: number;
  runningAt?: number;
  succeededAt?: number;
  failedAt?: number;
  cancelledAt?: number;
  /**
   * The highest attempt number ever issued (backups take numbers too): the next one is above it.
   */
  maxAttempt?: number;
  /**
   * Times an attempt of this task stalled (its worker died or froze) and went back on the queue.
   */
  stalls?: number;
  /** Speculative backup attempts launched for this task, in all. */
  speculations?: number;
  /**
   * 1 when the current attempt was launched as a speculative backup (and so, once succeeded, won).
   */
  speculative?: number;
  /** The primary attempt that last got a backup: each attempt is speculated on at most once. */
  speculatedFor?: number;
  /**
   * A speculative attempt in flight beside the current one (its attempt number), and its progress.
   */
  backup?: number;
  backupState?: 'queued' | 'running';
  backupWorker?: string;
  backupQueuedAt?: number;
  backupRunningAt?: number;
}

const NESTED = ['split', 'output', 'counters', 'error', 'lastError'] as const;

/** The stored JSON of a record (nested parts as strings). */
export function encodeTaskRecord(rec: Partial<TaskRecord>): string {
  return JSON.stringify(flatten(rec));
}

export function decodeTaskRecord(text: string): TaskRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  for (const field of NESTED) {
    const v = raw[field];
    if (typeof v === 'string') raw[field] = JSON.parse(v);
  }
  return raw as unknown as TaskRecord;
}

/** A patch for moveTask: nested values become strings; `null` deletes a field. */
export function flatten(patch: { [K in keyof TaskRecord]?: TaskRecord[K] | null }): Record<
  string,
  string | number | null
> {
  const out: Record<string, string | number | null> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] =
      v === null
        ? null
        : (NESTED as readonly string[]).includes(k)
          ? JSON.stringify(v)
          : (v as string | number);
  }
  return out;
}
