/**
 * The `strata` launcher (cli/bin.mjs → cli/compiled-cli.mjs) on a copy of the package: it runs a
 * bundle of the sources, built once per change of them, shared by processes that start together,
 * and runs from source when asked to.
 */
import { execFile, spawn } from 'node:child_process';
import {
  appendFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../core/package-root.ts';

const COPIED = [
  'cli',
  'core',
  'coordinator',
  'examples',
  'jobs',
  'proto',
  'serving',
  'speed',
  'worker',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

let pkg: string;
beforeAll(async () => {
  pkg = await mkdtemp(path.join(os.tmpdir(), 'strata-launcher-'));
  for (const name of COPIED)
    await cp(path.join(PACKAGE_ROOT, name), path.join(pkg, name), { recursive: true });
  await symlink(path.join(PACKAGE_ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
});
afterAll(async () => {
  await rm(pkg, { recursive: true, force: true });
});

function strata(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(pkg, 'cli/bin.mjs'), ...args],
      { cwd: pkg, env: { ...process.env, STRATA_RUN_FROM_SOURCE: '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function builds(): Promise<string[]> {
  return (await readdir(path.join(pkg, 'dist')).catch(() => [] as string[])).sort();
}

describe('the strata launcher', () => {
  it('runs a bundle built once from the sources, shared by processes that start together, and builds again after a source changes', async () => {
    // Three processes with no build yet: each may build, one build wins, none is left half-written.
    const first = await Promise.all([
      strata(['--help']),
      strata(['jobs', '--help']),
      strata(['--help']),
    ]);
    for (const r of first) expect(r.code, r.stderr).toBe(0);
    expect(first[0]!.stdout).toContain('serve');
    const [build] = await builds();
    expect(await builds()).toEqual([build]);
    const main = path.join(pkg, 'dist', build!, 'main.js');
    const builtAt = (await stat(main)).mtimeMs;
    for (const entry of ['task-handlers.js', 'parse-handlers.js'])
      expect((await stat(path.join(pkg, 'dist', build!, entry))).isFile()).toBe(true);

    // Nothing changed: the same build, not rebuilt.
    const again = await strata(['datasets', '--help']);
    expect(again.code, again.stderr).toBe(0);
    expect(await builds()).toEqual([build]);
    expect((await stat(main)).mtimeMs).toBe(builtAt);

    // A changed source: a new build next to the old one (a process started from it may still
    // load its chunks), and the change is in it.
    await appendFile(
      path.join(pkg, 'cli/commands/jobs.ts'),
      '\nexport const launcherTestMarker = "rebuilt-after-edit";\n',
    );
    const edited = await strata(['jobs', '--help']);
    expect(edited.code, edited.stderr).toBe(0);
    const after = await builds();
    expect(after).toHaveLength(2);
    expect(after).toContain(build);
    const rebuilt = path.join(
      pkg,
      'dist',
      after.find((b) => b !== build)!,
    );
    const chunks = (await readdir(rebuilt)).filter((f) => f.endsWith('.js'));
    const texts = await Promise.all(chunks.map((f) => readFile(path.join(rebuilt, f), 'utf8')));
    expect(texts.some((t) => t.includes('rebuilt-after-edit'))).toBe(true);
  }, 120_000);

  it('a new build removes old ones that no live process runs from, keeping the newest and any in use', async () => {
    const dist = path.join(pkg, 'dist');
    await rm(dist, { recursive: true, force: true });
    const hour = 3600;
    const fake = async (name: string, ageHours: number, pid?: number) => {
      await mkdir(path.join(dist, name, '.pids'), { recursive: true });
      if (pid !== undefined) await writeFile(path.join(dist, name, '.pids', String(pid)), '');
      const t = Date.now() / 1000 - ageHours * hour;
      await utimes(path.join(dist, name), t, t);
    };
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    await fake('old-a', 50);
    await fake('old-in-use', 40, process.pid); // the test runner: alive
    await fake('old-dead-pid', 30, gone.pid!);
    await fake('recent-1', 2);
    await fake('recent-2', 1);
    await appendFile(
      path.join(pkg, 'cli/commands/status.ts'),
      '\nexport const launcherTestMarker2 = 1;\n',
    );
    const r = await strata(['status', '--help']);
    expect(r.code, r.stderr).toBe(0);
    const left = await builds();
    // Kept: the new build, the two newest old ones, and the one a live process runs from.
    expect(left).toEqual(expect.arrayContaining(['old-in-use', 'recent-1', 'recent-2']));
    expect(left).not.toContain('old-a');
    expect(left).not.toContain('old-dead-pid');
    const current = left.filter((b) => !['old-in-use', 'recent-1', 'recent-2'].includes(b));
    expect(current).toHaveLength(1);
    // The process that ran noted its pid; the next start forgets it (it has exited) and notes its
    // own.
    const pids = path.join(dist, current[0]!, '.pids');
    const [first] = await readdir(pids);
    expect((await strata(['status', '--help'])).code).toBe(0);
    const next = await readdir(pids);
    expect(next).toHaveLength(1);
    expect(next).not.toContain(first);
  }, 60_000);

  it('a source that does not compile stops the command with the file, line and error, and the way around it', async () => {
    const file = path.join(pkg, 'cli/commands/cancel.ts');
    const original = await readFile(file, 'utf8');
    try {
      await writeFile(file, `${original}\nconst broken = ;\n`);
      const r = await strata(['--help']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/building the CLI from its sources .* failed/);
      expect(r.stderr).toMatch(/cli\/commands\/cancel\.ts:\d+:\d+: Unexpected ";"/);
      expect(r.stderr).toContain('STRATA_RUN_FROM_SOURCE=1');
      expect((await builds()).filter((b) => b.startsWith('.tmp-'))).toEqual([]);
    } finally {
      await writeFile(file, original);
    }
  }, 60_000);

  it('runs from the TypeScript sources with STRATA_RUN_FROM_SOURCE=1 and builds nothing', async () => {
    await rm(path.join(pkg, 'dist'), { recursive: true, force: true });
    const r = await strata(['--help'], { STRATA_RUN_FROM_SOURCE: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('serve');
    expect(await builds()).toEqual([]);
  }, 60_000);
});
