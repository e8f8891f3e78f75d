/**
 * Plain tasks (cli/pool/connect-pool.ts) on a real cluster: a module's exported functions called
 * on worker processes through BullMQ, results in order, errors revived with their code and stack.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, type StrataError } from '../../core/errors.ts';
import { connectPool, type Pool } from '../../cli/pool/connect-pool.ts';
import { startCluster, type TestCluster } from '../support/cluster.ts';

let cluster: TestCluster;
let pool: Pool;
let tasksFile: string;

const TASKS = `import { connectPool, isMainModule } from 'strata/pool';

/** A small Monte Carlo walk, deterministic for its seed. */
export function simulate(seed: number, steps = 20000): number {
  let s = seed >>> 0;
  let x = 0;
  for (let i = 0; i < steps; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x += s & 1 ? 1 : -1;
  }
  return x;
}

export async function later(value: string, ms: number): Promise<{ value: string; pid: number }> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { value, pid: process.pid };
}

export function explode(what: string): never {
  throw new TypeError('cannot handle ' + what);
}

function notExported(): number {
  return 1;
}
export const helpers = { notExported };

if (isMainModule(import.meta.url)) {
  // the driver part: never runs on a worker
  const pool = await connectPool(import.meta.url);
  await pool.close();
}
`;

function simulateHere(seed: number, steps = 20000): number {
  let s = seed >>> 0;
  let x = 0;
  for (let i = 0; i < steps; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x += s & 1 ? 1 : -1;
  }
  return x;
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
  cluster = await startCluster({ workers: 2 });
  tasksFile = path.join(cluster.cwd, 'tasks.ts');
  await writeFile(tasksFile, TASKS);
  pool = await connectPool(pathToFileURL(tasksFile), { home: cluster.home });
}, 120_000);
afterAll(async () => {
  await pool?.close();
  await cluster?.stop();
});

describe('connectPool', () => {
  it('runs an exported function on a worker and returns its result', async () => {
    // A driver passes its own export; the pool calls it by name (the test cannot import tasks.ts
    // itself).
    const simulate = Object.defineProperty((seed: number) => simulateHere(seed), 'name', {
      value: 'simulate',
    });
    expect(await pool.run(simulate, [42])).toBe(simulateHere(42));
    expect(await pool.run('simulate', [7, 100])).toBe(simulateHere(7, 100));
  });

  it('map runs many calls across the workers, results in the order of the arguments', async () => {
    const seeds = Array.from({ length: 40 }, (_, i) => i * 31 + 1);
    expect(
      await pool.map(
        'simulate',
        seeds.map((s) => [s]),
      ),
    ).toEqual(seeds.map((s) => simulateHere(s)));
    const spread = await pool.map(
      'later',
      Array.from({ length: 12 }, (_, i) => [`v${i}`, 150]),
    );
    expect(spread.map((r) => (r as { value: string }).value)).toEqual(
      Array.from({ length: 12 }, (_, i) => `v${i}`),
    );
    expect(new Set(spread.map((r) => (r as { pid: number }).pid)).size).toBe(2); // both worker processes took calls
  });

  it("a function that throws rejects with STRATA_E_CALL_FAILED carrying its error and the user's stack", async () => {
    const err = await failure(pool.run('explode', ['the input']));
    expect(err.code).toBe('STRATA_E_CALL_FAILED');
    expect(err.message).toMatch(/explode\(\) of bundle \w+ threw: cannot handle the input/);
    const cause = err.cause as Error;
    expect([cause.name, cause.message]).toEqual(['TypeError', 'cannot handle the input']);
    expect(cause.stack).toContain(`${tasksFile}:20:`); // mapped back to tasks.ts
  });

  it('a function that is not an export is refused before anything is queued', async () => {
    const err = await failure(pool.run(simulateHere, [1]));
    expect(err.code).toBe('STRATA_E_BUNDLE');
    expect(err.message).toMatch(
      /"simulateHere" is not a named export of tasks\.ts; .*the exports are: explode, helpers, later, simulate/,
    );
  });

  it('a module whose driver code is not guarded fails the call with a message that says so', async () => {
    const unguarded = path.join(cluster.cwd, 'unguarded.ts');
    await writeFile(
      unguarded,
      "import { connectPool } from 'strata/pool';\nexport const one = () => 1;\nconst pool = await connectPool(import.meta.url);\nawait pool.close();\n",
    );
    const other = await connectPool(pathToFileURL(unguarded), { home: cluster.home });
    try {
      const err = await failure(other.run('one', []));
      expect(err.code).toBe('STRATA_E_BUNDLE');
      expect(err.message).toMatch(
        /connectPool\(\) ran on a worker: .*isMainModule\(import\.meta\.url\)/,
      );
    } finally {
      await other.close();
    }
  });
});
