/**
 * Which versions of a view stay in the store: the current one, every newer one, and the newest
 * `keep` older ones (rollback targets). Older versions are deleted after each publish; a version
 * is derived data, recomputable from master/ and code/ by running its job again.
 *
 *   const { deleted } = await pruneViewVersions(store, 'pageviews', { keep: 3 });
 *   await pruneAfterPublish({ store, log, versionsKept: config.viewVersionsKept }, 'pageviews'); // in a commit: never throws
 *
 * Never deleted:
 * - the version _CURRENT names, whatever its age (after a rollback, an old one);
 * - versions newer than it (a rollback's "forward" targets; a commit that has not published yet);
 * - a folder with no _MANIFEST.json named or written less than `inProgressMs` ago (default one
 *   hour): a commit may be copying its parts right now. An older one is a commit that failed or
 *   was cut short, and goes like any old version;
 * - folders whose name is not a version (`v<13-digit ms>-<suffix>`): not ours to judge.
 * A version's manifest is deleted before its parts, so it stops being a committed version (listed,
 * a rollback target) first; a prune cut short leaves manifest-less parts that the next one removes.
 *
 * A prune stops when _CURRENT moves while it runs (it checks before each version it deletes). A
 * rollback landing in the moment between that check and the deletes can still leave _CURRENT
 * naming a deleted version; view servers then keep serving what they have (the failed load is
 * logged) until the next publish or rollback.
 */
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/store.ts';
import { readCurrentVersion, VERSION_PATTERN, viewPrefix } from './view-layout.ts';

/** Older committed versions kept when no count is configured (config viewVersionsKept). */
export const DEFAULT_VERSIONS_KEPT = 3;
/** A manifest-less version folder younger than this may be a commit in progress. */
export const IN_PROGRESS_MS = 60 * 60 * 1000;

export interface PruneOptions {
  /** Committed versions older than the current one to keep (the newest of them). */
  keep: number;
  /** Milliseconds since the epoch, for the in-progress rule (tests). Default Date.now(). */
  now?: number;
  /** Age under which a folder without a manifest is left alone. Default IN_PROGRESS_MS. */
  inProgressMs?: number;
}

export interface PruneResult {
  /** The versions whose files were deleted, oldest first. */
  deleted: string[];
  /** The committed versions left, oldest first (the current one among them). */
  kept: string[];
}

interface VersionFolder {
  keys: string[];
  committed: boolean;
  /** The newest modification time among its files. */
  modified: number;
}

/** Deletes the versions of `view` that retention does not keep (see the rules above). */
export async function pruneViewVersions(
  store: ObjectStore,
  view: string,
  options: PruneOptions,
): Promise<PruneResult> {
  const keep = options.keep;
  if (!Number.isInteger(keep) || keep < 0)
    throw new StrataError(
      'STRATA_E_USAGE',
      `the number of view versions to keep must be a whole number, 0 or more; got ${keep}`,
    );
  const current = await readCurrentVersion(store, view);
  if (current === undefined) return { deleted: [], kept: [] };
  const now = options.now ?? Date.now();
  const inProgressMs = options.inProgressMs ?? IN_PROGRESS_MS;

  const folders = new Map<string, VersionFolder>();
  for await (const o of store.list(viewPrefix(view))) {
    const [, , version, file] = o.key.split('/');
    if (!version || file === undefined || !VERSION_PATTERN.test(version)) continue;
    let f = folders.get(version);
    if (!f) folders.set(version, (f = { keys: [], committed: false, modified: 0 }));
    f.keys.push(o.key);
    if (file === '_MANIFEST.json') f.committed = true;
    f.modified = Math.max(f.modified, o.modified);
  }

  const older = [...folders.keys()].filter((v) => v < current).sort();
  const committedOlder = older.filter((v) => folders.get(v)!.committed);
  const keptOlder = new Set(keep === 0 ? [] : committedOlder.slice(-keep));
  // A version is named when its commit starts, and a commit's copies may carry the time their
  // attempt wrote them (a hard link keeps it): either being recent means "maybe in progress".
  const settled = (v: string) =>
    now - Math.max(versionTime(v), folders.get(v)!.modified) >= inProgressMs;
  const doomed = older.filter(
    (v) => !keptOlder.has(v) && (folders.get(v)!.committed || settled(v)),
  );

  const deleted: string[] = [];
  for (const version of doomed) {
    // A rollback may have moved _CURRENT since (perhaps to this very version): leave the rest to
    // the next prune, which starts from the new current version.
    if ((await readCurrentVersion(store, view)) !== current) break;
    const { keys } = folders.get(version)!;
    // The manifest first: from then on the version is no longer committed, never half-listed.
    const ordered = [
      ...keys.filter((k) => k.endsWith('/_MANIFEST.json')),
      ...keys.filter((k) => !k.endsWith('/_MANIFEST.json')),
    ];
    for (const key of ordered) await store.delete(key);
    deleted.push(version);
  }
  const kept = [...folders.keys()]
    .filter((v) => !deleted.includes(v) && (folders.get(v)!.committed || v === current))
    .sort();
  return { deleted, kept };
}

/** When a version's commit started, from its name (`v<13-digit ms>-<suffix>`). */
function versionTime(version: string): number {
  return Number(version.slice(1, 14));
}

/**
 * Retention right after a commit published a version of `view`: keeps `deps.versionsKept`
 * (default DEFAULT_VERSIONS_KEPT) older versions. Never throws: the publish has happened, and a
 * failed prune only leaves old versions for the next one; it is logged as a warning.
 */
export async function pruneAfterPublish(
  deps: { store: ObjectStore; log?: Logger; versionsKept?: number },
  view: string,
): Promise<void> {
  try {
    const { deleted } = await pruneViewVersions(deps.store, view, {
      keep: deps.versionsKept ?? DEFAULT_VERSIONS_KEPT,
    });
    if (deleted.length > 0)
      deps.log?.info({ view, deleted }, 'old view versions deleted (retention)');
  } catch (err) {
    deps.log?.warn(
      { err, view },
      'could not delete old view versions; the next publish tries again',
    );
  }
}
