/**
 * A lock file that keeps two processes from installing the same thing at once (two test runs,
 * or `strata dev` next to `npm test`, both finding redis-server missing).
 *
 *   await withInstallLock('/tmp/strata-redis-install.lock', async () => installRedis());
 *
 * The lock is a file created with O_EXCL holding the owner's pid. A waiter polls until it is
 * gone; a lock whose owner has died (a SIGKILLed installer never removes its file) is taken over,
 * so a crash never blocks later installs. apt-get's own dpkg lock stays the last line of defence
 * for the rare race in that takeover.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError } from '../errors.ts';

export interface InstallLockOptions {
  /** Give up waiting for another installer after this many milliseconds. */
  timeoutMs?: number;
  pollMs?: number;
  /** Called once if the lock is held by someone else, before waiting. */
  onWait?: (ownerPid: number | undefined) => void;
}

export async function withInstallLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: InstallLockOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const pollMs = opts.pollMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  const stamp = `${process.pid}\n${Date.now()}-${Math.random().toString(36).slice(2)}\n`;
  let announced = false;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      try {
        await fh.writeFile(stamp);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(lockPath);
    if (owner.content !== undefined && !isAlive(owner.pid)) {
      // Only remove the exact file we judged stale; a fresh lock written meanwhile stays.
      if ((await readOwner(lockPath)).content === owner.content)
        await unlink(lockPath).catch(() => {});
      continue;
    }
    if (!announced) {
      announced = true;
      opts.onWait?.(owner.pid);
    }
    if (Date.now() >= deadline) {
      throw new StrataError(
        'STRATA_E_DEPENDENCY_MISSING',
        `another process (pid ${owner.pid ?? 'unknown'}) has held the install lock ${lockPath} for over ${Math.round(timeoutMs / 1000)} s; ` +
          `wait for it to finish, or remove ${lockPath} if no install is running`,
        { details: { lockPath, ownerPid: owner.pid } },
      );
    }
    await sleep(pollMs);
  }
  try {
    return await fn();
  } finally {
    if ((await readOwner(lockPath)).content === stamp) await unlink(lockPath).catch(() => {});
  }
}

async function readOwner(
  lockPath: string,
): Promise<{ pid: number | undefined; content: string | undefined }> {
  try {
    const content = await readFile(lockPath, 'utf8');
    const pid = Number.parseInt(content, 10);
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : undefined, content };
  } catch {
    return { pid: undefined, content: undefined };
  }
}

function isAlive(pid: number | undefined): boolean {
  // A lock file still being written has no pid yet: treat its owner as alive.
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
