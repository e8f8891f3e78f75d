/**
 * Inside a task thread: a verified bundle file (code-cache.ts) as a module, and what a task needs
 * from it, checked.
 *
 *   const mod = await importBundle('/work/w1/code/<sha>.mjs', codeHash);
 *   const job = jobOf(mod, codeHash);          // the default export, a defineJob(...) result
 *   const fn = exportOf(mod, 'score', codeHash);  // a named export, for plain tasks
 *
 * import() caches by URL, so each thread evaluates a bundle once. A bundle that throws while it
 * loads, or lacks what the task asks for, fails the task with STRATA_E_BUNDLE (not retryable).
 */
import { pathToFileURL } from 'node:url';
import { errorMessage, StrataError } from '../errors.ts';
import { isJobDefinition } from '../../jobs/define-job.ts';
import type { JobDefinition } from '../../jobs/types.ts';

export type BundleModule = Record<string, unknown>;

export async function importBundle(file: string, codeHash: string): Promise<BundleModule> {
  try {
    return (await import(pathToFileURL(file).href)) as BundleModule;
  } catch (err) {
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `the bundle code/${codeHash}.mjs failed to load: ${errorMessage(err)}`,
      { details: { codeHash }, cause: err },
    );
  }
}

export function jobOf(
  mod: BundleModule,
  codeHash: string,
): JobDefinition<unknown, unknown, unknown> {
  const job = mod.default;
  if (!isJobDefinition(job)) {
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `the bundle code/${codeHash}.mjs has no job definition as its default export; a job module must end with: export default defineJob({ … })`,
      {
        details: { codeHash, exports: Object.keys(mod) },
      },
    );
  }
  return job;
}

export function exportOf(
  mod: BundleModule,
  name: string,
  codeHash: string,
): (...args: unknown[]) => unknown {
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const functions = Object.keys(mod).filter(
      (k) => typeof mod[k] === 'function' && k !== 'default',
    );
    throw new StrataError(
      'STRATA_E_BUNDLE',
      `the bundle code/${codeHash}.mjs has no exported function ${JSON.stringify(name)}; its exported functions are: ${functions.join(', ') || '(none)'}`,
      {
        details: { codeHash, exportName: name, functions },
      },
    );
  }
  return fn as (...args: unknown[]) => unknown;
}

/** The job a bundle in the store defines, fetched through `cache` and imported in this thread. */
export async function loadJob(
  cache: { ensure(codeHash: string): Promise<string> },
  codeHash: string,
): Promise<JobDefinition<unknown, unknown, unknown>> {
  return jobOf(await importBundle(await cache.ensure(codeHash), codeHash), codeHash);
}
