/**
 * Where a view's versions live in the store, and what a version's manifest says. The
 * coordinator writes these (commit), the CLI, the view server and `strata explain` read them.
 *
 *   views/<view>/<version>/part-<p>.sv     one sorted view file per reduce partition (immutable)
 *   views/<view>/<version>/_MANIFEST.json  lineage: job, code hash, input segments, counters, times
 *   views/<view>/_CURRENT                  {"version": "<version>"}: the published version (a pointer)
 *
 *   const current = await readCurrentVersion(store, 'pageviews');      // undefined if never published
 *   const key = partKey('pageviews', current, partitionOf(['/a'], manifest.partitions));
 */
import type { Counters, JobSpec } from '../tasks/task-payload.ts';
import { StrataError } from '../errors.ts';
import type { ObjectStore } from '../store/store.ts';

export const VIEW_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Versions sort by time: `v<13-digit ms>-<suffix>`. */
export const VERSION_PATTERN = /^v\d{13}-[a-z0-9]{1,16}$/;

export interface ViewManifest {
  view: string;
  version: string;
  jobId: string;
  job: JobSpec;
  partitions: number;
  /** Every input segment read, with its size: the exact lineage of every value. */
  inputSegments: Array<{ key: string; size: number; records: number }>;
  /** Inclusive event-time range of the input, ms; null when unknown. */
  inputMinTime: number | null;
  inputMaxTime: number | null;
  parts: Array<{ partition: number; key: string; bytes: number; records: number }>;
  counters: Counters;
  tasks: Array<{
    taskId: string;
    attempts: number;
    worker?: string;
    counters: Counters;
    durationMs: number;
  }>;
  times: { submitted: number; started: number; mapsDone: number; finished: number };
  records: number;
}

export function assertViewName(view: string): void {
  if (!VIEW_NAME_PATTERN.test(view)) {
    throw new StrataError(
      'STRATA_E_VIEW_NAME',
      `"${view}" is not a view name: use [a-z0-9][a-z0-9_-]*, at most 64 characters`,
      { details: { view } },
    );
  }
}

export function newVersion(now: number, suffix: string): string {
  return `v${String(now).padStart(13, '0')}-${
    suffix
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(0, 16) || 'x'
  }`;
}

export const viewPrefix = (view: string): string => `views/${view}/`;
export const versionPrefix = (view: string, version: string): string => `views/${view}/${version}/`;
export const partKey = (view: string, version: string, partition: number): string =>
  `views/${view}/${version}/part-${partition}.sv`;
export const manifestKey = (view: string, version: string): string =>
  `views/${view}/${version}/_MANIFEST.json`;
export const currentKey = (view: string): string => `views/${view}/_CURRENT`;

/** The published version of a view, or undefined when it was never published. */
export async function readCurrentVersion(
  store: ObjectStore,
  view: string,
): Promise<string | undefined> {
  assertViewName(view);
  if (!(await store.stat(currentKey(view)))) return undefined;
  const { version } = JSON.parse(new TextDecoder().decode(await store.get(currentKey(view)))) as {
    version: string;
  };
  return version;
}

export async function readManifest(
  store: ObjectStore,
  view: string,
  version: string,
): Promise<ViewManifest> {
  return JSON.parse(
    new TextDecoder().decode(await store.get(manifestKey(view, version))),
  ) as ViewManifest;
}

/** Names of every view that has at least one version, sorted. */
export async function listViews(store: ObjectStore): Promise<string[]> {
  const views = new Set<string>();
  for await (const o of store.list('views/')) {
    const name = o.key.split('/')[1];
    if (name && o.key.endsWith('/_CURRENT')) views.add(name);
  }
  return [...views].sort();
}

/** Every committed version of a view (those with a manifest), oldest first. */
export async function listVersions(store: ObjectStore, view: string): Promise<string[]> {
  assertViewName(view);
  const versions: string[] = [];
  for await (const o of store.list(viewPrefix(view))) {
    const [, , version, file] = o.key.split('/');
    if (version && file === '_MANIFEST.json') versions.push(version);
  }
  return versions.sort();
}

/**
 * The Redis pub/sub channel on which a published (or rolled back) version is announced: JSON {
 * view, version }.
 */
export const viewsChannel = (prefix: string): string => `${prefix}:views`;

/**
 * Points `_CURRENT` at a version: the single step that publishes it (commit) or restores it
 * (rollback). The version must be committed (have a manifest), so a pointer never dangles.
 */
export async function setCurrentVersion(
  store: ObjectStore,
  view: string,
  version: string,
): Promise<void> {
  assertViewName(view);
  if (!(await store.stat(manifestKey(view, version)))) {
    const versions = await listVersions(store, view);
    throw new StrataError(
      'STRATA_E_VIEW_NOT_FOUND',
      `view "${view}" has no committed version ${version}; its versions are ${versions.length ? versions.join(', ') : '(none)'} ` +
        '(after each publish only the newest few older versions are kept, STRATA_VIEW_VERSIONS_KEPT; an older one comes back by running its job again)',
      { details: { view, version, versions } },
    );
  }
  await store.put(currentKey(view), new TextEncoder().encode(`${JSON.stringify({ version })}\n`), {
    overwrite: true,
  });
}
