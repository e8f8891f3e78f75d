/**
 * `strata dev` as a user runs it (a real process in a fresh folder, stopped with Ctrl-C), and the
 * local cluster launcher's failure path.
 */
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterFile } from '../../core/cluster-file.ts';
import { openStore } from '../../core/store/open-store.ts';
import { isStrataError } from '../../core/errors.ts';
import { startLocalCluster } from '../../cli/cluster/local-cluster.ts';
import { STRATA_BIN } from '../../cli/cluster/service-process.ts';
import { publishView } from './fixtures/publish-view.ts';

const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);
let cwd: string;

function strata(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [STRATA_BIN, ...args], { cwd, env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-dev-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('strata dev', () => {
  it('starts Redis, a coordinator, workers, a view server and the speed layer, writes cluster.json (with serveUrl and speedUrl) for the other commands, and Ctrl-C stops it all', async () => {
    const dev = spawn(process.execPath, [STRATA_BIN, 'dev', '--workers', '2', '--port', '0'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    dev.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    dev.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      dev.on('close', (code) => resolve(code)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
          if (/^try: /m.test(stdout)) resolve();
          if (dev.exitCode !== null) reject(new Error(`strata dev exited: ${stderr}`));
        }, 100);
        void exited.finally(() => clearInterval(check));
        void new Promise((r) => setTimeout(r, 50_000)).then(() =>
          reject(new Error(`strata dev did not come up: ${stdout}${stderr}`)),
        );
        void Promise.resolve()
          .then(() => exited)
          .then(() => clearInterval(check));
      });
      expect(stdout).toMatch(
        /^strata dev: cluster up in [\d.]+ s \(Ctrl-C stops it\)\n {2}coordinator {3}http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)\n {2}view server {3}http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)\n {2}speed ingest {2}http:\/\/127\.0\.0\.1:\d+\/v1\/datasets\/<dataset>\/records \(pid \d+\)\n {2}workers {7}2: pids \d+, \d+\n {2}redis {9}redis:\/\/127\.0\.0\.1:\d+ \(pid \d+\), key prefix strata-[0-9a-f]{8}\n {2}store {9}file:\/\/.*\/\.strata\/store\n {2}logs {10}\.strata\/logs\/\n {2}cluster file {2}\.strata\/cluster\.json/,
      );
      const info = (await readClusterFile(path.join(cwd, '.strata')))!;
      expect(Object.keys(info.pids).sort()).toEqual([
        'coordinator',
        'redis',
        'serve',
        'speed',
        'worker-0',
        'worker-1',
      ]);
      for (const pid of Object.values(info.pids)) expect(alive(pid)).toBe(true);
      expect(stdout).toContain(`  view server   ${info.serveUrl} (pid ${info.pids.serve})\n`);
      // The speed layer of cluster.json takes records with the cluster token.
      const posted = await fetch(`${info.speedUrl}/v1/datasets/ticks/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/x-ndjson' },
        body: '{"time":"2026-01-05T10:00:00Z","symbol":"ACME"}\n',
      });
      expect(posted.status).toBe(200);
      expect(await posted.json()).toMatchObject({ records: 1, commitId: 1 });

      // strata get finds the view server through cluster.json, and it answers (its counter rises).
      const store = await openStore(info.store);
      await publishView(store, 'pv', [[['/home', 1], 5]], { partitions: 2 });
      await store.close();
      const served = async () =>
        (
          (await (await fetch(`${info.serveUrl}/v1/views`)).json()) as {
            views: Array<{ view: string }>;
          }
        ).views.length;
      for (let t0 = Date.now(); (await served()) === 0 && Date.now() - t0 < 15_000;)
        await new Promise((r) => setTimeout(r, 100));
      const getRequests = async () =>
        [
          ...(await (await fetch(`${info.serveUrl}/metrics`)).text()).matchAll(
            /^strata_serve_requests_total\{[^}]*route="\/v1\/views\/:view\/get"[^}]*\} (\d+)$/gm,
          ),
        ].reduce((n, m) => n + Number(m[1]), 0);
      const before = await getRequests();
      expect(await strata(['get', 'pv', '/home', '1'])).toEqual({
        code: 0,
        stdout: '5\n',
        stderr: '',
      });
      expect((await getRequests()) - before).toBe(1);

      const [jobs, second] = await Promise.all([strata(['jobs']), strata(['dev'])]);
      expect(jobs).toEqual({
        code: 0,
        stdout: 'no jobs yet; run one with: strata submit <job.ts>\n',
        stderr: '',
      });
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(
        /^strata: a cluster is already running in .*\.strata \(redis pid \d+, coordinator pid \d+, worker-0 pid \d+, worker-1 pid \d+, serve pid \d+, speed pid \d+\); stop it first .* \[STRATA_E_USAGE\]\n$/,
      );

      dev.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout).toMatch(/strata dev: stopped\n$/);
      expect(stderr).toMatch(/strata dev: interrupted, stopping the cluster…/);
      await expect(access(path.join(cwd, '.strata', 'cluster.json'))).rejects.toThrow();
      for (const pid of Object.values(info.pids))
        expect(alive(pid), `pid ${pid} still running`).toBe(false);
    } finally {
      if (dev.exitCode === null) dev.kill('SIGKILL');
    }
  });
});

describe('startLocalCluster', () => {
  it('a child that exits before it is ready fails the start with its own error, and nothing is left running', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const home = path.join(cwd, 'broken-home');
    const err = await startLocalCluster({
      home,
      workers: 1,
      redisUrl: `redis://127.0.0.1:${port}`,
      baseEnv: env,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_SERVICE_START_FAILED')).toBe(true);
    const e = err as Error & { details: Record<string, unknown> };
    expect(e.message).toMatch(
      /^the (coordinator|worker-0) process \(strata (coordinator|worker)\) exited \(code 1\) before it was ready; full log: .*\.log\. Its last output:\n/,
    );
    expect(e.message).toMatch(
      new RegExp(`Redis is not reachable at redis://127\\.0\\.0\\.1:${port}`),
    );
    expect(e.details.childCode).toBe('STRATA_E_REDIS_UNAVAILABLE');
    await expect(access(path.join(home, 'cluster.json'))).rejects.toThrow();
  });
});
