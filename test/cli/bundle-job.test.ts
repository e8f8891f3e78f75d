/**
 * cli/bundle-job.ts on job files in a folder outside the repository, with no node_modules:
 * 'strata' must resolve to this checkout and the bundle must stand alone.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, type StrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import { bundleJob, bundleModule, codeKey, uploadBundle } from '../../cli/bundle-job.ts';

const run = promisify(execFile);
let dir: string;

const JOB = `import { defineJob, count } from 'strata';
import { hourOf } from './lib/hour.ts';

export default defineJob({
  name: 'hits',
  input: { dataset: 'pageviews', from: '2024-06-01' },
  map: (r: { url: string; time: string }, emit) => {
    if (r.url === '/boom') throw new Error('boom at ' + r.url);
    emit([r.url, hourOf(r.time)], 1);
  },
  aggregate: count(),
  partitions: 6,
  params: { minViews: 3 },
});
`;

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
}

async function failure(p: Promise<unknown>): Promise<StrataError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isStrataError(err)) throw new Error(`expected a StrataError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-bundle-'));
  await file('lib/hour.ts', 'export const hourOf = (t: string): string => t.slice(0, 13);\n');
  await file('job.ts', JOB);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bundleJob', () => {
  it("bundles a job outside the repo, resolving 'strata' to this checkout, and returns its static spec", async () => {
    const { bundle, spec } = await bundleJob(path.join(dir, 'job.ts'));
    expect(spec).toEqual({
      name: 'hits',
      input: { dataset: 'pageviews', from: '2024-06-01' },
      partitions: 6,
      view: 'hits',
      reduce: 'aggregate:count',
      combine: true,
      params: { minViews: 3 },
    });
    expect(bundle.sha256).toBe(createHash('sha256').update(bundle.code).digest('hex'));
    expect(bundle.exports).toEqual(['default']);
    expect((await bundleModule('job.ts', { cwd: dir })).sha256).toBe(bundle.sha256); // same source, same hash
  });

  it("the bundle stands alone: a plain node process elsewhere imports it and runs map, and the stack names the user's line", async () => {
    const { bundle } = await bundleJob(path.join(dir, 'job.ts'));
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'strata-bundle-run-'));
    try {
      await writeFile(path.join(elsewhere, 'b.mjs'), bundle.code);
      const script = `const { default: job } = await import('./b.mjs');
        const out = []; job.map({ url: '/a', time: '2024-06-01T10:11:12Z' }, (k, v) => out.push([k, v]), { params: job.params });
        let stack = ''; try { job.map({ url: '/boom', time: 'x' }, () => {}, { params: {} }); } catch (e) { stack = e.stack; }
        console.log(JSON.stringify({ spec: job.staticSpec(), out, stack }));`;
      await writeFile(path.join(elsewhere, 'run.mjs'), script);
      const { stdout } = await run(process.execPath, ['--enable-source-maps', 'run.mjs'], {
        cwd: elsewhere,
      });
      const got = JSON.parse(stdout) as { spec: { name: string }; out: unknown[]; stack: string };
      expect(got.spec.name).toBe('hits');
      expect(got.out).toEqual([[['/a', '2024-06-01T10'], 1]]);
      expect(got.stack).toMatch(/boom at \/boom/);
      expect(got.stack).toMatch(/job\.ts:8:\d+/); // the throw in the user's file, not the bundle's line
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('a file that does not compile is STRATA_E_BUNDLE quoting esbuild with file:line:col', async () => {
    await file(
      'broken.ts',
      "import { defineJob } from 'strata';\nexport default defineJob({\n  name: 'x',,\n});\n",
    );
    const err = await failure(bundleJob(path.join(dir, 'broken.ts')));
    expect(err.code).toBe('STRATA_E_BUNDLE');
    expect(err.message).toMatch(/broken\.ts does not compile \(1 error\)/);
    expect(err.message).toMatch(
      /broken\.ts:3:13: Expected identifier but found ","\n {6}name: 'x',,\n {16}\^/,
    );
    expect(err.details).toMatchObject({ errors: [{ line: 3 }] });
  });

  it('an import that does not resolve is STRATA_E_BUNDLE naming it', async () => {
    await file(
      'missing-import.ts',
      "import { nope } from './not-there.ts';\nexport default nope;\n",
    );
    const err = await failure(bundleJob(path.join(dir, 'missing-import.ts')));
    expect(err.code).toBe('STRATA_E_BUNDLE');
    expect(err.message).toMatch(/Could not resolve "\.\/not-there\.ts"/);
  });

  it('a module without a defineJob default export is STRATA_E_BUNDLE saying what to write', async () => {
    await file('no-default.ts', 'export const x = 1;\n');
    await file('wrong-default.ts', 'export default function job() {}\n');
    const none = await failure(bundleJob(path.join(dir, 'no-default.ts')));
    expect([none.code, none.message]).toEqual([
      'STRATA_E_BUNDLE',
      expect.stringMatching(
        /has no default export; a job file ends with `export default defineJob\(/,
      ),
    ]);
    const wrong = await failure(bundleJob(path.join(dir, 'wrong-default.ts')));
    expect(wrong.message).toMatch(/exports a function \(job\) as its default, not a job/);
  });

  it("defineJob's own validation error comes through as STRATA_E_JOB_DEFINITION", async () => {
    await file(
      'bad-def.ts',
      "import { defineJob, count } from 'strata';\nexport default defineJob({ name: 'x', input: { dataset: 'd' }, map: () => {}, agregate: count() } as never);\n",
    );
    const err = await failure(bundleJob(path.join(dir, 'bad-def.ts')));
    expect(err.code).toBe('STRATA_E_JOB_DEFINITION');
    expect(err.message).toMatch(/did you mean `aggregate`/);
  });

  it('a module that throws while loading is STRATA_E_BUNDLE naming the file', async () => {
    await file('throws.ts', "throw new Error('config missing');\n");
    const err = await failure(bundleJob(path.join(dir, 'throws.ts')));
    expect([err.code, err.message]).toEqual([
      'STRATA_E_BUNDLE',
      expect.stringMatching(/throws\.ts threw while loading: config missing/),
    ]);
  });

  it('lists the named exports of a task module', async () => {
    await file(
      'tasks.ts',
      'export function simulate(n: number) { return n * 2; }\nexport const add = (a: number, b: number) => a + b;\n',
    );
    expect((await bundleModule(path.join(dir, 'tasks.ts'))).exports.sort()).toEqual([
      'add',
      'simulate',
    ]);
  });
});

describe('uploadBundle', () => {
  it('puts the bundle at code/<sha256>.mjs once; a second upload of the same code is a no-op', async () => {
    const store = await openStore(`file://${path.join(dir, 'store')}`);
    try {
      const { bundle } = await bundleJob(path.join(dir, 'job.ts'));
      expect(await uploadBundle(store, bundle)).toEqual({
        key: codeKey(bundle.sha256),
        uploaded: true,
      });
      expect(await uploadBundle(store, bundle)).toEqual({
        key: codeKey(bundle.sha256),
        uploaded: false,
      });
      expect(
        Buffer.from(await store.get(codeKey(bundle.sha256))).equals(Buffer.from(bundle.code)),
      ).toBe(true);
    } finally {
      await store.close();
    }
  });
});
