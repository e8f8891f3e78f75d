/**
 * What a failed task attempt's BullMQ `failedReason` means to the coordinator.
 *
 *   decodeTaskFailure('{"name":"StrataError","code":"STRATA_E_JOB_MAP_FAILED",…}')  // that StrataError, stack and all
 *   decodeTaskFailure('job stalled more than allowable limit')                      // STRATA_E_TASK_LOST (retryable)
 *
 * Contract with the worker: a task that fails throws an Error whose message is the JSON of a
 * StrataError (`JSON.stringify(err.toJSON())`), because BullMQ keeps only the message. BullMQ's
 * own stall verdicts mean the worker died or froze: the attempt was lost, so it is retried.
 * Anything else (a crash in the worker's own code) is retried too, as Hadoop retries any task
 * failure: a few attempts cost little and a flaky machine should not fail a job.
 */
import { StrataError, type StrataErrorJSON } from '../core/errors.ts';

const LOST =
  /stalled more than allowable limit|started more than allowable limit|missing lock|lock mismatch/i;

export function decodeTaskFailure(
  failedReason: string | undefined,
  where: { bullJobId: string },
): StrataError {
  const reason = failedReason ?? '';
  const json = parseStrataJSON(reason);
  if (json) return StrataError.fromJSON(json);
  if (LOST.test(reason)) {
    return new StrataError(
      'STRATA_E_TASK_LOST',
      `task ${where.bullJobId} was lost (${reason}): its worker died or stopped renewing its lock, so it runs again`,
      { details: { bullJobId: where.bullJobId, reason } },
    );
  }
  return new StrataError(
    'STRATA_E_INTERNAL',
    `task ${where.bullJobId} failed in the worker: ${reason || '(no reason given)'}`,
    { retryable: true, details: { bullJobId: where.bullJobId, reason } },
  );
}

function parseStrataJSON(text: string): StrataErrorJSON | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(text) as Partial<StrataErrorJSON>;
    return typeof v.code === 'string' && typeof v.message === 'string'
      ? (v as StrataErrorJSON)
      : undefined;
  } catch {
    return undefined;
  }
}
