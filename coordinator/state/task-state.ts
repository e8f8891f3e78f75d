/**
 * The states of one map or reduce task of a job, and the only ways between them.
 *
 *   pending ─enqueue─▶ queued ─start─▶ running ─succeed─▶ succeeded
 *      ▲                 │  ▲             │                  │
 *      │                 │  └───stall─────┤                  │   (its worker died: BullMQ re-queues the same attempt)
 *      └────retry────────┴────────────────┘                  │   (a failed attempt: attempt + 1)
 *      └────rerun────────────────────────────────────────────┘   (a map's output was lost)
 *   pending | queued | running ─fail─▶ failed;  ─(job fails or is cancelled)─▶ cancelled
 *
 *   TASK_TRANSITIONS.succeed.from   // ['queued', 'running']
 *
 * A task carries its attempt number; every transition names the attempt it is about, so a late
 * answer from an older attempt (a worker that was presumed dead) is refused, not applied.
 * 'succeeded' is not terminal for a map: its output lives on one worker's disk until the job
 * commits, and a lost output sends it back to 'pending' (rerun), as Hadoop re-runs the maps of a
 * lost node. 'failed' and 'cancelled' are terminal; the tasks of a terminal job never move.
 * 'start' is accepted from 'running' too: a stalled attempt taken again by another worker whose
 * 'stalled' event was missed still gets its new worker recorded.
 *
 * Speculative execution: a running task may also have one backup attempt in flight (task-record.ts
 * `backup`), a later attempt number on the queue at the same time. start, stall and succeed name
 * either attempt; the first to succeed wins and the other is the loser (cancelled, its answer
 * refused). A retryable failure of the primary promotes the backup instead of starting afresh.
 */

export const TASK_STATES = [
  'pending',
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_TASK_STATES: readonly TaskState[] = ['failed', 'cancelled'];

export const TASK_TRANSITIONS = {
  /** The scheduler put this attempt on the queue. */
  enqueue: { from: ['pending'], to: 'queued' },
  /** A worker took it (BullMQ 'active'). */
  start: { from: ['queued', 'running'], to: 'running' },
  /** Its worker stopped renewing the lock: BullMQ put the same attempt back on the queue. */
  stall: { from: ['running'], to: 'queued' },
  /** Its result arrived ('active' may be missed, hence queued too). */
  succeed: { from: ['queued', 'running'], to: 'succeeded' },
  /** Failed for good (a non-retryable error). Attempts used up go through retryTask. */
  fail: { from: ['pending', 'queued', 'running'], to: 'failed' },
  /** A failed attempt that will be run again as attempt + 1. */
  retry: { from: ['queued', 'running'], to: 'pending' },
  /** A succeeded map whose output was lost: run again as attempt + 1. */
  rerun: { from: ['succeeded'], to: 'pending' },
} as const satisfies Record<string, { from: readonly TaskState[]; to: TaskState }>;

export type TaskTransition = keyof typeof TASK_TRANSITIONS;

export function isTerminalTaskState(state: TaskState): boolean {
  return TERMINAL_TASK_STATES.includes(state);
}
