/**
 * The states of a batch job and the only ways between them.
 *
 *   planning ─▶ mapping ─▶ reducing ─▶ committing ─▶ succeeded
 *       └──────────┴──────────┴────────────┴──────▶ failed
 *       └──────────┴──────────┴───────────────────▶ cancelled
 *
 *   canMoveJob('mapping', 'startReducing')   // true
 *   JOB_TRANSITIONS.cancel.from               // ['planning', 'mapping', 'reducing']
 *
 * The table is the single source of truth: job-store.ts hands each transition's from-states to
 * the Lua script, which checks them inside Redis. A terminal state is never left (the scripts
 * refuse that whatever the table says). A job being committed cannot be cancelled: its commit is
 * a few store copies away from done, and a half-published version is what cancel must not leave.
 */

export const JOB_STATES = [
  'planning',
  'mapping',
  'reducing',
  'committing',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export const JOB_TRANSITIONS = {
  /** The scheduler has enqueued the map tasks. */
  startMapping: { from: ['planning'], to: 'mapping' },
  /** Every map succeeded; reduce tasks are enqueued. */
  startReducing: { from: ['mapping'], to: 'reducing' },
  /** Every reduce succeeded; the version is chosen and the commit begins. */
  startCommit: { from: ['reducing'], to: 'committing' },
  /** _CURRENT points at the new version and it was announced. */
  succeed: { from: ['committing'], to: 'succeeded' },
  /** A task failed for good, or the commit failed before _CURRENT moved. */
  fail: { from: ['planning', 'mapping', 'reducing', 'committing'], to: 'failed' },
  /** A user asked (POST /v1/jobs/:id/cancel). */
  cancel: { from: ['planning', 'mapping', 'reducing'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly JobState[]; to: JobState }>;

export type JobTransition = keyof typeof JOB_TRANSITIONS;

export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

export function canMoveJob(from: JobState, transition: JobTransition): boolean {
  return (JOB_TRANSITIONS[transition].from as readonly JobState[]).includes(from);
}
