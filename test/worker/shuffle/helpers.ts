/**
 * Shared by the shuffle tests: deterministic run-file contents and a shuffle server in a child
 * process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RunEntry } from '../../../worker/shuffle/run-file.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Entry i of partition p: key 'p<p>/<i, 8 digits>', value 1…200 bytes derived from i. */
export function entryKey(p: number, i: number): Buffer {
  return Buffer.from(`p${p}/${String(i).padStart(8, '0')}`);
}
export function entryValue(i: number, size = (i % 200) + 1): Buffer {
  const v = Buffer.alloc(size, i & 0xff);
  if (size >= 4) v.writeUInt32BE(i >>> 0, 0);
  return v;
}

/** `counts[p]` entries for each partition p, in run order. */
export function* sortedEntries(counts: number[], valueSize?: number): Generator<RunEntry> {
  for (let p = 0; p < counts.length; p++) {
    for (let i = 0; i < counts[p]!; i++) yield [p, entryKey(p, i), entryValue(i, valueSize)];
  }
}

export interface ServerProcess {
  address: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function spawnShuffleServer(
  token: string,
  outputs: Record<string, string>,
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./fixtures/shuffle-server-process.ts', import.meta.url)),
      JSON.stringify({ token, outputs }),
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code, signal) =>
      reject(new Error(`shuffle server process exited early (${code ?? signal})`)),
    );
  });
  const { address, pid } = JSON.parse(line) as { address: string; pid: number };
  return {
    address,
    pid,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
