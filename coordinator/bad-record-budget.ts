/**
 * The job-wide bad-record budget (defineJob's `badRecords: { max }`): each map task skips and
 * quarantines the bad records it meets and reports how many in counters.badRecords; the job fails
 * once their sum over the maps passes `max`.
 *
 *   const over = badRecordBudgetError(job, tasks);   // after a map result was recorded
 *   if (over) await failJob(job.id, over);           // STRATA_E_JOB_BAD_RECORDS
 *
 * Only the current attempt of each succeeded map counts (what the job status and the manifest
 * sum), so a retried task is counted once. A job without a budget never gets here with bad
 * records: its first bad record fails its task, and with it the job.
 */
import { StrataError } from '../core/errors.ts';
import {
  badRecordsAdvice,
  quarantinePrefix,
  type Counters,
  type JobSpec,
} from '../core/tasks/task-payload.ts';

export interface BudgetTask {
  taskId: string;
  kind: 'map' | 'reduce';
  state: string;
  counters?: Partial<Counters>;
}

/**
 * STRATA_E_JOB_BAD_RECORDS when the succeeded maps met more bad records than the job allows, else
 * undefined.
 */
export function badRecordBudgetError(
  job: { id: string; spec: Pick<JobSpec, 'name' | 'badRecords'> },
  tasks: readonly BudgetTask[],
): StrataError | undefined {
  const max = job.spec.badRecords?.max ?? 0;
  let total = 0;
  const withBad: Array<[string, number]> = [];
  for (const t of tasks) {
    const n = t.kind === 'map' && t.state === 'succeeded' ? (t.counters?.badRecords ?? 0) : 0;
    if (n > 0) {
      total += n;
      withBad.push([t.taskId, n]);
    }
  }
  if (total <= max) return undefined;
  withBad.sort((a, b) => b[1] - a[1]);
  const where = quarantinePrefix(job.id);
  const most = withBad
    .slice(0, 3)
    .map(([id, n]) => `${id}: ${n.toLocaleString('en-US')}`)
    .join(', ');
  return new StrataError(
    'STRATA_E_JOB_BAD_RECORDS',
    `job '${job.spec.name}': its map tasks met ${total.toLocaleString('en-US')} bad records (in ${withBad.length} task${withBad.length === 1 ? '' : 's'}; most in ${most}), more than its budget of badRecords.max = ${max.toLocaleString('en-US')}. ` +
      `Each one, with its error and where it came from, is in ${where} ${badRecordsAdvice(job.id, total, max)}`,
    {
      details: {
        jobId: job.id,
        badRecords: total,
        max,
        quarantine: where,
        tasks: Object.fromEntries(withBad),
      },
    },
  );
}
