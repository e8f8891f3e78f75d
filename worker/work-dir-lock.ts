/**
 * One worker process per work folder: its map outputs are cleared at start and at stop, so two
 * workers sharing a folder would delete each other's outputs.
 *
 *   const lock = await lockWorkDir('/data/work/w1');   // STRATA_E_CONFIG if a live process holds it
 *   await lock.release();
 *
 * The lock is `<workDir>/worker.pid`. A pid that no longer runs (a killed worker) is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '../core/errors.ts';

export interface WorkDirLock {
  release(): Promise<void>;
}

export async function lockWorkDir(workDir: string): Promise<WorkDirLock> {
  await mkdir(workDir, { recursive: true });
  const file = path.join(workDir, 'worker.pid');
  for (let tries = 0; ; tries++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw err;
      const holder = Number(await readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
        throw new StrataError(
          'STRATA_E_CONFIG',
          `the work folder ${workDir} is in use by the worker with pid ${holder}; give each worker its own STRATA_WORK_DIR`,
          { details: { workDir, pid: holder } },
        );
      }
      await rm(file, { force: true });
    }
  }
  return { release: () => rm(file, { force: true }) };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
