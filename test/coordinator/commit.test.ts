/**
 * The commit protocol on a real file store: a commit makes exactly the winning attempts visible
 * under the new version and moves _CURRENT; running it again (a coordinator restarted while
 * committing) changes nothing; a failure before _CURRENT leaves the published version as it was.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { emptyCounters, type JobSpec } from '../../core/tasks/task-payload.ts';
import { storeSource } from '../../core/viewfile/random-access-source.ts';
import { ViewFileReader } from '../../core/viewfile/view-file-reader.ts';
import { encodeViewFile } from '../../core/viewfile/view-file-writer.ts';
import { listVersions, readCurrentVersion, readManifest } from '../../core/views/view-layout.ts';
import { commitJob, reduceOutputKey } from '../../coordinator/commit.ts';
import type { JobRecord } from '../../coordinator/state/job-store.ts';
import type { TaskRecord } from '../../coordinator/state/task-record.ts';
import { keysUnder } from './coordinator-fixture.ts';

let dir: string;
let store: ObjectStore;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-commit-'));
  store = await openStore(`file://${dir}`);
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const spec: JobSpec = {
  name: 'v',
  view: 'v',
  input: { dataset: 'd' },
  partitions: 2,
  reduce: 'reduce',
  combine: false,
  params: {},
  codeHash: 'c'.repeat(64),
};

function job(id: string, version: string, submitted = 1): JobRecord {
  return {
    id,
    state: 'committing',
    spec,
    input: {
      segments: [{ key: 'master/d/dt=2026-01-01/a.seg', size: 10, records: 3 }],
      minTime: 1,
      maxTime: 2,
    },
    inputBytes: 10,
    inputRecords: 3,
    maps: 1,
    reduces: 2,
    submitted,
    started: 2,
    mapsDone: 3,
    updated: 3,
    version,
  };
}

async function reduceTasks(jobId: string): Promise<TaskRecord[]> {
  const tasks: TaskRecord[] = [
    {
      taskId: 'm-0',
      kind: 'map',
      state: 'succeeded',
      attempt: 1,
      failures: 0,
      counters: { ...emptyCounters(), recordsIn: 3 },
    },
  ];
  for (const p of [0, 1]) {
    // Attempt 1 of r-1 failed half-way and left a file behind; attempt 2 won.
    const attempt = p === 1 ? 2 : 1;
    if (p === 1) await store.put(reduceOutputKey(jobId, 'r-1', 1), encodeViewFile([['stale', 1]]));
    const outputKey = reduceOutputKey(jobId, `r-${p}`, attempt);
    await store.put(outputKey, encodeViewFile([[`k${p}`, p]]));
    tasks.push({
      taskId: `r-${p}`,
      kind: 'reduce',
      state: 'succeeded',
      attempt,
      failures: 0,
      partition: p,
      outputKey,
      worker: 'w1',
      counters: { ...emptyCounters(), recordsOut: 1 },
    });
  }
  return tasks;
}

describe('commitJob', () => {
  it('publishes the winning attempts, a manifest and _CURRENT, announces once per call, cleans tmp/, and a second run changes nothing', async () => {
    const announced: Array<[string, string]> = [];
    const deps = {
      store,
      prefix: 'p',
      publish: async (c: string, m: string) => announced.push([c, m]),
      now: () => 42,
    };
    const tasks = await reduceTasks('j1');
    const version = 'v0000000000042-j1';
    const manifest = await commitJob(deps, job('j1', version), tasks);
    expect(await readCurrentVersion(store, 'v')).toBe(version);
    expect(await keysUnder(store, `views/v/${version}/`)).toEqual([
      `views/v/${version}/_MANIFEST.json`,
      `views/v/${version}/part-0.sv`,
      `views/v/${version}/part-1.sv`,
    ]);
    const reader = await ViewFileReader.open(
      await storeSource(store, `views/v/${version}/part-1.sv`),
    );
    expect(await reader.get('k1')).toBe(1);
    expect(await reader.get('stale')).toBeUndefined();
    await reader.close();
    expect(manifest).toMatchObject({
      view: 'v',
      version,
      jobId: 'j1',
      records: 2,
      inputSegments: [{ records: 3 }],
      times: { submitted: 1, started: 2, mapsDone: 3, finished: 42 },
    });
    expect(manifest.tasks.map((t) => [t.taskId, t.attempts])).toEqual([
      ['m-0', 1],
      ['r-0', 1],
      ['r-1', 2],
    ]);
    expect(manifest.counters).toMatchObject({ recordsIn: 3, recordsOut: 2 });
    expect(await readManifest(store, 'v', version)).toEqual(manifest);
    expect(announced).toEqual([['p:views', JSON.stringify({ view: 'v', version })]]);
    expect(await keysUnder(store, 'tmp/jobs/j1/')).toEqual([]);

    const again = await commitJob({ ...deps, now: () => 99 }, job('j1', version), tasks);
    expect(again).toEqual(manifest);
    expect(await readCurrentVersion(store, 'v')).toBe(version);
  });

  it('a failure before _CURRENT moves leaves the published version as it was', async () => {
    const tasks = await reduceTasks('j2');
    await store.delete(tasks[2]!.outputKey!); // r-1's winning file is gone
    const err = await commitJob(
      { store, prefix: 'p', publish: async () => 0 },
      job('j2', 'v0000000000050-j2'),
      tasks,
    ).catch((e: unknown) => e);
    expect(isStrataError(err)).toBe(true);
    expect(await readCurrentVersion(store, 'v')).toBe('v0000000000042-j1');
    expect(await listVersions(store, 'v')).toEqual(['v0000000000042-j1']);
  });
  // Runs last: it moves the view 'v' that the tests above check.
  it('a job submitted earlier that finishes later is committed but does not take _CURRENT back to older data', async () => {
    const announced: string[] = [];
    const deps = {
      store,
      prefix: 'p',
      publish: async (_c: string, m: string) => announced.push(m),
      now: () => 50,
    };
    const later = job('j4', 'v0000000000100-j4', 20);
    await commitJob(deps, later, await reduceTasks('j4'));
    expect(await readCurrentVersion(store, 'v')).toBe('v0000000000100-j4');
    // j5 was submitted before j4 (submitted 10 < 20) but commits after it with a newer version
    // name.
    await commitJob(deps, job('j5', 'v0000000000200-j5', 10), await reduceTasks('j5'));
    expect(await readCurrentVersion(store, 'v')).toBe('v0000000000100-j4');
    expect(await listVersions(store, 'v')).toContain('v0000000000200-j5');
    expect(announced).toEqual([JSON.stringify({ view: 'v', version: 'v0000000000100-j4' })]);
    expect(await keysUnder(store, 'tmp/jobs/j5/')).toEqual([]);
  });

  // Runs after the one above, on the versions it leaves: 42-j1, 100-j4 (current), 200-j5.
  it('each publish deletes the versions older than the current one beyond the three kept by default', async () => {
    const deps = { store, prefix: 'p', publish: async () => 0, now: () => 60 };
    for (const [i, id] of ['j6', 'j7', 'j8', 'j9'].entries()) {
      await commitJob(
        deps,
        job(id, `v0000000000${300 + 100 * i}-${id}`, 30 + i),
        await reduceTasks(id),
      );
    }
    expect(await readCurrentVersion(store, 'v')).toBe('v0000000000600-j9');
    expect(await listVersions(store, 'v')).toEqual([
      'v0000000000300-j6',
      'v0000000000400-j7',
      'v0000000000500-j8',
      'v0000000000600-j9',
    ]);
    expect(await keysUnder(store, 'views/v/v0000000000042-j1/')).toEqual([]);
  });
});
