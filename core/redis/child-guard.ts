/**
 * Makes a long-lived child process (our redis-server) die with its parent, however the parent
 * goes: a normal exit, Ctrl-C, SIGTERM, or a SIGKILL no handler ever sees.
 *
 *   const release = guardChild(child);   // …later, once the child has been stopped:
 *   release();
 *
 * Exit and signal handlers cover the first three. For SIGKILL a tiny `sh` watchdog holds the
 * read end of a pipe from us: when the kernel closes our end (we died), its `read` returns and it
 * stops the child, TERM first, then KILL. Without it every killed test run would leak a Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';

// A dead child whose parent was us stays a zombie until init reaps it (slowly, in some
// containers), and `kill -0` still succeeds on a zombie: so "alive" reads the process state.
const WATCHDOG = `alive() {
  if [ -d /proc/self ]; then
    { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
    st=\${line##*) }; [ "\${st%% *}" != Z ]
  else
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$s" in *Z*) return 1 ;; esac
  fi
}
read _ignored
kill -TERM "$1" 2>/dev/null || exit 0
i=0
while alive "$1" && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
alive "$1" && kill -KILL "$1" 2>/dev/null
exit 0`;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const guarded = new Set<ChildProcess>();

function stopAll(): void {
  for (const child of guarded) child.kill('SIGTERM');
}

function onSignal(signal: NodeJS.Signals): void {
  stopAll();
  // Our listener replaced Node's default "die on this signal"; restore it unless the program
  // has its own handler (then shutting down is its decision).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  process.on('exit', stopAll);
  for (const s of SIGNALS) process.once(s, onSignal);
}

function removeHandlers(): void {
  process.off('exit', stopAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Returns the watchdog's pid too, so tests can prove nothing is left behind. */
export function guardChild(child: ChildProcess): {
  watchdogPid: number | undefined;
  release: () => void;
} {
  if (child.pid === undefined) return { watchdogPid: undefined, release: () => {} };
  if (guarded.size === 0) installHandlers();
  guarded.add(child);
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'strata-watchdog', String(child.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => {}); // no sh: we still have the exit and signal handlers
  // Neither the watchdog nor its pipe may keep our event loop alive.
  watchdog.unref();
  watchdog.stdin?.on('error', () => {});
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  let released = false;
  return {
    watchdogPid: watchdog.pid,
    release: () => {
      if (released) return;
      released = true;
      watchdog.kill('SIGKILL');
      guarded.delete(child);
      if (guarded.size === 0) removeHandlers();
    },
  };
}
