/**
 * The Redis names the coordinator and the workers share besides BullMQ's own (P =
 * config.redisPrefix):
 * they meet here because neither may import the other.
 *
 *   HSET    P:workers <workerId> {"id","address","host","pid","threads","started"}   workersKey(P)
 *   SET     P:worker:<workerId>:alive 1 PX <3 × heartbeatMs>                           workerAliveKey(P, id)
 *   PUBLISH P:tasks:cancel {"ids":["<jobId>.<taskId>.<attempt>",…],"reason":"…"}      taskCancelChannel(P)
 *
 *   await redis.publish(taskCancelChannel(prefix), encodeTaskCancel({ ids: ['j1.m-3.1'], reason: 'attempt 2 won' }));
 *   const msg = decodeTaskCancel(text);   // undefined for anything else
 *
 * A cancel names BullMQ job ids (one per task attempt); a worker running one of them aborts it
 * (its thread is terminated) and reports it failed, which the coordinator ignores: it only cancels
 * attempts whose answers it no longer wants (another attempt won, or the job ended). A worker that
 * missed the message runs the attempt to the end and its answer is refused as stale, so a lost
 * message costs time, never correctness.
 */

export const workersKey = (prefix: string): string => `${prefix}:workers`;
export const workerAliveKey = (prefix: string, workerId: string): string =>
  `${prefix}:worker:${workerId}:alive`;
export const taskCancelChannel = (prefix: string): string => `${prefix}:tasks:cancel`;

export interface TaskCancel {
  /** BullMQ job ids, `<jobId>.<taskId>.<attempt>`. */
  ids: string[];
  /** Why, for the worker's log and the attempt's error message. */
  reason: string;
}

export function encodeTaskCancel(msg: TaskCancel): string {
  return JSON.stringify({ ids: msg.ids, reason: msg.reason });
}

export function decodeTaskCancel(text: string): TaskCancel | undefined {
  try {
    const v = JSON.parse(text) as Partial<TaskCancel>;
    if (!Array.isArray(v.ids) || !v.ids.every((id) => typeof id === 'string')) return undefined;
    return {
      ids: v.ids,
      reason: typeof v.reason === 'string' ? v.reason : 'cancelled by the coordinator',
    };
  } catch {
    return undefined;
  }
}
