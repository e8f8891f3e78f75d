/**
 * A real `strata worker` child process (node cli/bin.mjs worker), ready once it prints its ready
 * line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { repoRoot } from './worker-fixtures.ts';

export interface WorkerChild {
  id: string;
  address: string;
  threads: number;
  pid: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last lines of stderr (JSON logs), for failure messages. */
  logs: string[];
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const READY = /^worker (\S+) ready \(shuffle (\S+), (\d+) threads\)$/;

export async function spawnWorker(
  env: Record<string, string>,
  args: string[] = [],
): Promise<WorkerChild> {
  const child = spawn(process.execPath, ['cli/bin.mjs', 'worker', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    logs.push(line);
    if (logs.length > 200) logs.shift();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = READY.exec(line);
      if (m) resolve(m);
    });
    void exited.then(({ code, signal }) =>
      reject(
        new Error(
          `worker exited before it was ready (${code ?? signal}):\n${logs.slice(-20).join('\n')}`,
        ),
      ),
    );
  });
  return {
    id: ready[1]!,
    address: ready[2]!,
    threads: Number(ready[3]),
    pid: child.pid!,
    child,
    exited,
    logs,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
