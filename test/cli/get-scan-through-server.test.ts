/**
 * `strata get` and `strata scan` through a real `strata serve` child: answered by the server
 * (its request counter rises, and an empty --store could not have answered), with the same
 * output and errors as reading the store, and falling back to the store when the server is dead.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/open-store.ts';
import { settingsEnv } from '../../cli/cluster/local-cluster.ts';
import { startService, STRATA_BIN, type Service } from '../../cli/cluster/service-process.ts';
import { publishView, type Row } from './fixtures/publish-view.ts';

const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('STRATA_')),
);
let cwd: string;
let storeUrl: string;
let emptyStore: string;
let serve: Service;
let serverUrl: string;
let deadUrl: string;

function strata(
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [STRATA_BIN, ...args],
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** strata_serve_requests_total of one route, summed over methods and statuses. */
async function requests(route: string): Promise<number> {
  const text = await (await fetch(`${serverUrl}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('strata_serve_requests_total{') && line.includes(`route="${route}"`))
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

const hits: Row[] = [];
for (let u = 0; u < 30; u++)
  for (let h = 0; h < 5; h++) hits.push([[`/page/${u}`, `2024-06-01T0${h}`], u * 10 + h]);
// More entries than one server page (1000): the scan follows the cursor.
const many: Row[] = Array.from({ length: 2500 }, (_, i) => [[`k${i % 7}`, i], { i }]);

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-serve-'));
  storeUrl = `file://${path.join(cwd, 'store')}`;
  emptyStore = `file://${path.join(cwd, 'empty-store')}`;
  const store = await openStore(storeUrl);
  await publishView(store, 'hits', hits, { partitions: 4 });
  await publishView(
    store,
    'typed',
    [
      [[7], 'number seven'],
      [['7'], 'string seven'],
      [['12345'], 'a zip'],
    ],
    { partitions: 3 },
  );
  await publishView(store, 'many', many, { partitions: 3 });
  await store.close();
  serve = await startService({
    name: 'serve',
    args: ['serve'],
    env: {
      ...env,
      ...settingsEnv({
        home: path.join(cwd, 'serve-home'),
        store: storeUrl,
        servePort: 0,
        logLevel: 'warn',
      }),
    },
    isReady: (line) => line.startsWith('serve listening on '),
  });
  serverUrl = serve.readyLine.slice('serve listening on '.length);
  deadUrl = await new Promise<string>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}, 60_000);
afterAll(async () => {
  await serve?.stop();
  await rm(cwd, { recursive: true, force: true });
});

describe('strata get through a view server', () => {
  it('answers from the server, with exact number and string key parts, when the store given is empty', async () => {
    const before = await requests('/v1/views/:view/get');
    const runs = await Promise.all([
      strata([
        'get',
        'hits',
        '/page/7',
        '2024-06-01T03',
        '--server',
        serverUrl,
        '--store',
        emptyStore,
      ]),
      strata(['get', 'typed', '7', '--server', serverUrl, '--store', emptyStore]),
      strata(['get', 'typed', '7', '--string', '--store', emptyStore], {
        STRATA_SERVE_URL: serverUrl,
      }),
    ]);
    expect(runs).toEqual([
      { code: 0, stdout: '73\n', stderr: '' },
      { code: 0, stdout: '"number seven"\n', stderr: '' },
      { code: 0, stdout: '"string seven"\n', stderr: '' },
    ]);
    expect((await requests('/v1/views/:view/get')) - before).toBe(3);
  });

  it('a missing key and an unknown view fail with the same message and exit code as reading the store', async () => {
    const cases = [
      ['get', 'hits', '/page/7', '2024-06-01T09'],
      ['get', 'typed', '12345'], // the --string hint: asks the server for ['12345'] too
      ['get', 'nope', 'x'],
    ];
    const before = await requests('/v1/views/:view/get');
    const [served, direct] = await Promise.all([
      Promise.all(cases.map((c) => strata([...c, '--server', serverUrl, '--store', storeUrl]))),
      Promise.all(
        cases.map((c) =>
          strata([...c, '--no-server', '--store', storeUrl], { STRATA_SERVE_URL: serverUrl }),
        ),
      ),
    ]);
    expect(served).toEqual(direct);
    expect(
      served.map((r) => [r.code, r.stdout, /\[(STRATA_E_\w+)\]\n$/.exec(r.stderr)?.[1]]),
    ).toEqual([
      [1, '', 'STRATA_E_KEY_NOT_FOUND'],
      [1, '', 'STRATA_E_KEY_NOT_FOUND'],
      [1, '', 'STRATA_E_VIEW_NOT_FOUND'],
    ]);
    expect(served[1]!.stderr).toMatch(
      /has no key \[12345\]; the key \["12345"\] \(all strings\) exists: add --string/,
    );
    // 1 + 2 (the hint) + 1 (unknown view, then the store said so); --no-server asked nothing.
    expect((await requests('/v1/views/:view/get')) - before).toBe(4);
  });

  it('reads the store when the server does not answer', async () => {
    const runs = await Promise.all([
      strata(['get', 'hits', '/page/7', '2024-06-01T03', '--server', deadUrl, '--store', storeUrl]),
      strata(['get', 'hits', '/page/7', '2024-06-01T03', '--store', emptyStore], {
        STRATA_SERVE_URL: deadUrl,
      }),
    ]);
    expect(runs[0]).toEqual({ code: 0, stdout: '73\n', stderr: '' });
    expect(runs[1]!.code).toBe(1);
    expect(runs[1]!.stderr).toMatch(
      /no view "hits" has been published in file:\/\/.*empty-store.*\[STRATA_E_VIEW_NOT_FOUND\]\n$/,
    );
  });
});

describe('strata scan through a view server', () => {
  it('prints the same lines as the store, following the cursor across pages, with an empty store given', async () => {
    const before = await requests('/v1/views/:view/scan');
    const [all, prefixed, limited, direct, directPrefixed] = await Promise.all([
      strata(['scan', 'many', '--server', serverUrl, '--store', emptyStore]),
      strata(['scan', 'hits', '/page/12', '--server', serverUrl, '--store', emptyStore]),
      strata(['scan', 'many', 'k3', '--limit', '5', '--server', serverUrl, '--store', emptyStore]),
      strata(['scan', 'many', '--no-server', '--store', storeUrl]),
      strata(['scan', 'hits', '/page/12', '--no-server', '--store', storeUrl]),
    ]);
    expect(all.code).toBe(0);
    expect(all.stdout.trimEnd().split('\n')).toHaveLength(2500);
    expect(all.stdout).toBe(direct.stdout);
    expect(prefixed.stdout).toBe(directPrefixed.stdout);
    expect(prefixed.stdout.trimEnd().split('\n')).toHaveLength(5);
    expect(
      limited.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      [['k3', 3], { i: 3 }],
      [['k3', 10], { i: 10 }],
      [['k3', 17], { i: 17 }],
      [['k3', 24], { i: 24 }],
      [['k3', 31], { i: 31 }],
    ]);
    // 3 pages of the whole view, 1 of the prefix, 1 of the limited scan.
    expect((await requests('/v1/views/:view/scan')) - before).toBe(5);
  });

  it('reads the store when the server does not answer, and an unknown view is STRATA_E_VIEW_NOT_FOUND either way', async () => {
    const [dead, direct, unknownServed, unknownDirect] = await Promise.all([
      strata(['scan', 'hits', '/page/3', '--server', deadUrl, '--store', storeUrl]),
      strata(['scan', 'hits', '/page/3', '--no-server', '--store', storeUrl]),
      strata(['scan', 'nope', '--server', serverUrl, '--store', storeUrl]),
      strata(['scan', 'nope', '--no-server', '--store', storeUrl]),
    ]);
    expect(dead).toEqual(direct);
    expect(dead.stdout.trimEnd().split('\n')).toHaveLength(5);
    expect(unknownServed).toEqual(unknownDirect);
    expect(unknownServed.code).toBe(1);
    expect(unknownServed.stderr).toMatch(/\[STRATA_E_VIEW_NOT_FOUND\]\n$/);
  });
});
