/**
 * Making a job's output visible, once, by protocol (Hadoop's OutputCommitter, in our words).
 *
 *   const manifest = await commitJob({ store, publish, prefix }, job, tasks);   // job.version set at startCommit
 *   await abortJob(store, jobId);                                             // a failed or cancelled job
 *
 * Who calls what, and how often:
 * - setupJob: nothing. Attempts write under tmp/jobs/<jobId>/, which needs no creating.
 * - task commit: the worker, once per reduce attempt: it writes its whole view file with one
 *   `store.put(outputKey)`, a name that includes the attempt, so attempts never collide and a
 *   duplicate or a presumed-dead attempt can never overwrite the winner. There is no task-level
 *   rename; the coordinator records which attempt won (its task record's outputKey).
 * - commitJob (below): the coordinator, once per job, after every reduce succeeded; again after
 *   a coordinator restart in 'committing' — every step is idempotent for the same version:
 *     1. store.copy each winning attempt's file → views/<view>/<version>/part-<p>.sv (create-only)
 *     2. put views/<view>/<version>/_MANIFEST.json (create-only)
 *     3. put views/<view>/_CURRENT {"version"} (overwrite): the single step that publishes
 *     4. PUBLISH <P>:views {"view","version"} so view servers load it
 *     5. retention: delete committed versions beyond config.viewVersionsKept before the current
 *        one (core/views/view-retention.ts; never the current one, never master/)
 *     6. delete tmp/jobs/<jobId>/
 *   A failure before step 3 publishes nothing: readers follow _CURRENT, and listVersions lists
 *   only versions with a manifest. (Parts already copied stay, unreferenced, until retention
 *   removes the folder.) Steps 4–6 cannot fail the commit; they are logged.
 * - abortJob: the coordinator, once, when a job fails or is cancelled: deletes tmp/jobs/<jobId>/.
 *   The scheduler then marks the job succeeded (after commitJob) or failed/cancelled (after abortJob).
 */
import { isStrataError, StrataError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ObjectInfo, ObjectStore } from '../core/store/store.ts';
import { addCounters, emptyCounters } from '../core/tasks/task-payload.ts';
import {
  manifestKey,
  partKey,
  readCurrentVersion,
  readManifest,
  setCurrentVersion,
  viewsChannel,
  type ViewManifest,
} from '../core/views/view-layout.ts';
import { pruneAfterPublish } from '../core/views/view-retention.ts';
import type { JobRecord } from './state/job-store.ts';
import type { TaskRecord } from './state/task-record.ts';

export interface CommitDeps {
  store: ObjectStore;
  /** PUBLISH on the cluster's Redis. */
  publish: (channel: string, message: string) => Promise<unknown>;
  /** config.redisPrefix: announcements go to `<prefix>:views`. */
  prefix: string;
  log?: Logger;
  now?: () => number;
  /** config.viewVersionsKept: committed versions kept before the current one (retention). */
  versionsKept?: number;
}

export const jobTmpPrefix = (jobId: string): string => `tmp/jobs/${jobId}/`;
export const reduceOutputKey = (jobId: string, taskId: string, attempt: number): string =>
  `${jobTmpPrefix(jobId)}${taskId}-a${attempt}.sv`;
export { viewsChannel };

export async function commitJob(
  deps: CommitDeps,
  job: JobRecord,
  tasks: readonly TaskRecord[],
): Promise<ViewManifest> {
  const { store } = deps;
  const version = job.version;
  if (!version)
    throw new StrataError('STRATA_E_INTERNAL', `job ${job.id} reached commit without a version`, {
      details: { jobId: job.id },
    });
  const view = job.spec.view;
  const reduces = tasks
    .filter((t) => t.kind === 'reduce')
    .sort((a, b) => a.partition! - b.partition!);
  const notDone = reduces.filter((t) => t.state !== 'succeeded' || !t.outputKey);
  if (reduces.length !== job.reduces || notDone.length > 0) {
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `job ${job.id} reached commit with reduces not done: ${notDone.map((t) => t.taskId).join(', ')}`,
      { details: { jobId: job.id } },
    );
  }

  const parts: ViewManifest['parts'] = [];
  for (const t of reduces) {
    const info = await copyOnce(store, t.outputKey!, partKey(view, version, t.partition!));
    parts.push({
      partition: t.partition!,
      key: info.key,
      bytes: info.size,
      records: t.counters?.recordsOut ?? 0,
    });
  }

  const manifest = await putManifestOnce(
    store,
    buildManifest(job, version, tasks, parts, (deps.now ?? Date.now)()),
  );
  // Versions are named when their commit starts, so a job submitted earlier (over less input) can
  // finish after one submitted later; moving _CURRENT then would take readers back to older data.
  const supersededBy = await newerPublishedVersion(store, view, version, job.submitted);
  if (supersededBy) {
    deps.log?.warn(
      { jobId: job.id, view, version, current: supersededBy },
      'version committed but not published: the current version comes from a job submitted later',
    );
    await abortJob(store, job.id, deps.log);
    return manifest;
  }
  await setCurrentVersion(store, view, version);
  deps.log?.info({ jobId: job.id, view, version, parts: parts.length }, 'version published');

  try {
    await deps.publish(viewsChannel(deps.prefix), JSON.stringify({ view, version }));
  } catch (err) {
    deps.log?.warn(
      { err, jobId: job.id, view, version },
      'announcing the new version failed; view servers will see _CURRENT when they next poll',
    );
  }
  await pruneAfterPublish(deps, view); // retention: never throws
  await abortJob(store, job.id, deps.log);
  return manifest;
}

/** The current version of the view when it was produced by a job submitted after `submitted`. */
async function newerPublishedVersion(
  store: ObjectStore,
  view: string,
  version: string,
  submitted: number,
): Promise<string | undefined> {
  const current = await readCurrentVersion(store, view);
  if (current === undefined || current === version) return undefined;
  const manifest = await readManifest(store, view, current).catch(() => undefined);
  return manifest && manifest.times.submitted > submitted ? current : undefined;
}

/**
 * Deletes a job's attempt files under tmp/ (best effort: a failure only leaves garbage in tmp/).
 */
export async function abortJob(store: ObjectStore, jobId: string, log?: Logger): Promise<void> {
  try {
    const keys: string[] = [];
    for await (const o of store.list(jobTmpPrefix(jobId))) keys.push(o.key);
    for (const key of keys) await store.delete(key);
  } catch (err) {
    log?.warn({ err, jobId }, `could not clean ${jobTmpPrefix(jobId)}`);
  }
}

function buildManifest(
  job: JobRecord,
  version: string,
  tasks: readonly TaskRecord[],
  parts: ViewManifest['parts'],
  finished: number,
): ViewManifest {
  let counters = emptyCounters();
  for (const t of tasks) if (t.counters) counters = addCounters(counters, t.counters);
  return {
    view: job.spec.view,
    version,
    jobId: job.id,
    job: job.spec,
    partitions: job.spec.partitions,
    inputSegments: job.input.segments,
    inputMinTime: job.input.minTime,
    inputMaxTime: job.input.maxTime,
    parts,
    counters,
    tasks: tasks.map((t) => ({
      taskId: t.taskId,
      attempts: t.attempt,
      ...(t.worker ? { worker: t.worker } : {}),
      counters: t.counters ?? emptyCounters(),
      durationMs:
        t.counters?.durationMs ??
        Math.max(0, (t.succeededAt ?? 0) - (t.runningAt ?? t.queuedAt ?? t.succeededAt ?? 0)),
    })),
    times: {
      submitted: job.submitted,
      started: job.started ?? job.submitted,
      mapsDone: job.mapsDone ?? finished,
      finished,
    },
    records: parts.reduce((n, p) => n + p.records, 0),
  };
}

/** A create-only copy that a repeated commit of the same version may find already done. */
async function copyOnce(store: ObjectStore, from: string, to: string): Promise<ObjectInfo> {
  const done = await store.stat(to);
  if (done) return done;
  try {
    return await store.copy(from, to);
  } catch (err) {
    const raced = isStrataError(err, 'STRATA_E_STORE_EXISTS') ? await store.stat(to) : undefined;
    if (raced) return raced;
    throw err;
  }
}

async function putManifestOnce(store: ObjectStore, manifest: ViewManifest): Promise<ViewManifest> {
  const key = manifestKey(manifest.view, manifest.version);
  try {
    await store.put(key, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
    return manifest;
  } catch (err) {
    if (!isStrataError(err, 'STRATA_E_STORE_EXISTS')) throw err;
    return JSON.parse(new TextDecoder().decode(await store.get(key))) as ViewManifest;
  }
}
