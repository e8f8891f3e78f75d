/**
 * Finishing speed commits that did not finish: at start (before the ingest API listens, under the
 * lease) for every in-flight commit of every dataset, and in a running server for a commit whose
 * group failed after it began.
 *
 *   const summary = await recoverInflight({ commitLog, store, onCommitted, log });
 *   summary.folded; summary.dropped   // commit ids
 *
 * One commit, in order:
 * 1. staged (a multi-day commit whose segments were durable under tmp/): copy every tmp/ file
 *    whose master/ key is missing (roll forward);
 * 2. every master segment exists → onCommitted (without records; the hook is idempotent per
 *    commit id) → complete;
 * 3. none exists → the commit crashed before its put; nothing of it was acknowledged → complete;
 * 4. some but not all (cannot happen by the protocol) → STRATA_E_INTERNAL naming the commit,
 *    and it stays in flight.
 */
import { isStrataError, StrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ObjectStore } from '../core/store/store.ts';
import type { CommitHook } from './commit-hook.ts';
import { stagingKey, type CommitLog, type CommitRecord } from './commit-log.ts';

export interface RecoveryDeps {
  commitLog: CommitLog;
  store: ObjectStore;
  onCommitted?: CommitHook | undefined;
  log?: Logger | undefined;
}

export type RecoveryOutcome = 'folded' | 'dropped';

export interface RecoverySummary {
  folded: Array<{ dataset: string; id: number }>;
  dropped: Array<{ dataset: string; id: number }>;
}

export async function recoverInflight(deps: RecoveryDeps): Promise<RecoverySummary> {
  const summary: RecoverySummary = { folded: [], dropped: [] };
  for (const dataset of await deps.commitLog.listDatasets()) {
    for (const record of await deps.commitLog.listInflight(dataset)) {
      const outcome = await recoverCommit(record, deps);
      summary[outcome].push({ dataset, id: record.id });
    }
  }
  if (summary.folded.length + summary.dropped.length > 0)
    deps.log?.info(summary, 'finished the speed commits left in flight');
  return summary;
}

export async function recoverCommit(
  record: CommitRecord,
  deps: RecoveryDeps,
): Promise<RecoveryOutcome> {
  const { store, commitLog } = deps;
  if (record.staged) {
    for (const { from, to } of record.copies) {
      if (await store.stat(to)) continue;
      if (!(await store.stat(from))) {
        throw new StrataError(
          'STRATA_E_INTERNAL',
          `speed commit ${record.id} of ${record.dataset} was staged but neither ${from} nor ${to} exists; the commit stays in flight. Look for who deleted the staged file under tmp/`,
          {
            details: { dataset: record.dataset, id: record.id, from, to },
          },
        );
      }
      try {
        await store.copy(from, to);
      } catch (err) {
        if (!isStrataError(err, 'STRATA_E_STORE_EXISTS')) throw err; // a racing copy won: same bytes
      }
    }
  }
  const present = await Promise.all(
    record.segments.map(async (key) => (await store.stat(key)) !== undefined),
  );
  const count = present.filter(Boolean).length;
  if (count > 0 && count < present.length) {
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `speed commit ${record.id} of ${record.dataset} has ${count} of its ${present.length} segments in the store (missing: ${record.segments.filter((_, i) => !present[i]).join(', ')}); it stays in flight`,
      {
        details: { dataset: record.dataset, id: record.id },
      },
    );
  }
  const outcome: RecoveryOutcome = count > 0 ? 'folded' : 'dropped';
  if (outcome === 'folded')
    await deps.onCommitted?.({
      dataset: record.dataset,
      id: record.id,
      bucket: record.bucket,
      segments: record.segments,
      views: record.views,
    });
  await commitLog.complete(record.dataset, record.id);
  await deleteStaged(record, store, deps.log);
  deps.log?.info(
    { dataset: record.dataset, id: record.id, bucket: record.bucket, outcome },
    outcome === 'folded'
      ? 'recovered a speed commit whose segments were stored'
      : 'dropped a speed commit that had stored nothing',
  );
  return outcome;
}

/** tmp/ is scratch: a leftover staged file is harmless, so failures are only logged. */
export async function deleteStaged(
  record: Pick<CommitRecord, 'planned' | 'dataset' | 'id'>,
  store: ObjectStore,
  log?: Logger,
): Promise<void> {
  if (record.planned.length < 2) return; // a single-day commit goes straight to master/
  await Promise.all(
    record.planned.map(({ date }) => {
      const key = stagingKey(record.dataset, record.id, date);
      return store
        .delete(key)
        .catch((err: unknown) =>
          log?.warn(
            { err, key, dataset: record.dataset, id: record.id },
            'could not delete a staged speed segment',
          ),
        );
    }),
  );
}
