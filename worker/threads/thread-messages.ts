/**
 * The messages between a worker's main thread and its task threads: what each named handler of
 * task-handlers.ts takes and answers. Errors come back as StrataError JSON (with the user's stack
 * and cause), never as a thrown structured clone, which would drop the code and details.
 *
 *   const reply: ThreadReply<MapTaskOutcome> = await pool.run({ task, bundle } satisfies MapRequest, { name: 'map' });
 */
import type { StrataErrorJSON } from '../../core/errors.ts';
import type { CallTask, MapTask, ReduceTask } from '../../core/tasks/task-payload.ts';
import type { CallOutcome } from '../call/run-call-task.ts';
import type { MapTaskOutcome } from '../map/run-map-task.ts';
import type { ReduceTaskOutcome } from '../reduce/run-reduce-task.ts';

/** Given to every thread once (piscina workerData). */
export interface ThreadEnv {
  workerId: string;
  store: string;
  s3AccessKey: string;
  s3SecretKey: string;
  workDir: string;
  memoryBudgetBytes: number;
  token: string;
  logLevel: string;
}

export interface MapRequest {
  task: MapTask;
  /** Local path of the verified bundle (code-cache.ts). */
  bundle: string;
}

export interface ReduceRequest {
  task: ReduceTask;
  bundle: string;
}

export interface CallRequest {
  task: CallTask;
  bundle: string;
}

export type ThreadReply<T> = { ok: true; value: T } | { ok: false; error: StrataErrorJSON };

/** Handler name → request and outcome. */
export interface ThreadHandlers {
  map: { request: MapRequest; outcome: MapTaskOutcome };
  reduce: { request: ReduceRequest; outcome: ReduceTaskOutcome };
  call: { request: CallRequest; outcome: CallOutcome };
}

export type HandlerName = keyof ThreadHandlers;
