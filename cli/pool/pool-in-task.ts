/**
 * What `import { connectPool, isMainModule } from 'strata/pool'` means inside a bundle that runs on
 * a worker (cli/bundle-job.ts aliases it here). A worker imports the module to call one of its
 * exports: it is never the main module, and it never connects a pool of its own.
 *
 *   if (isMainModule(import.meta.url)) { const pool = await connectPool(import.meta.url); … }   // skipped on workers
 */
import { StrataError } from '../../core/errors.ts';

export function isMainModule(_importMetaUrl: string): boolean {
  return false;
}

export async function connectPool(): Promise<never> {
  throw new StrataError(
    'STRATA_E_USAGE',
    "connectPool() ran on a worker: workers import the task module and run its top-level code. Guard the driver code with `if (isMainModule(import.meta.url)) { … }` (from 'strata/pool'), or keep the task functions in a module of their own",
  );
}
