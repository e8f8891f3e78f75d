/**
 * The batch layer end to end, as a user drives it: a real redis-server, a coordinator and two
 * worker processes (test/support/cluster.ts), job files bundled and submitted by the real CLI,
 * views read back from the store. One cluster serves the whole file.
 *
 * Small memory budget and split size force many map tasks and spills; every view is compared key
 * by key with a straightforward computation over the same generated records.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatKey, type KeyPart } from '../../core/keys/key-codec.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { readCurrentVersion } from '../../core/views/view-layout.ts';
import { eventHour } from '../../examples/web-analytics/event-hour.ts';
import {
  generatePageviews,
  type PageviewEvent,
} from '../../examples/web-analytics/generate-pageviews.ts';
import { sfc32 } from '../../examples/web-analytics/seeded-random.ts';
import { startCluster, type CliRun, type TestCluster } from '../support/cluster.ts';

const EVENTS = 200_000;
const REPO = path.resolve(import.meta.dirname, '../..');
const DISTINCT_SE = 1.04 / Math.sqrt(2 ** 14); // distinct()'s default precision p = 14

let cluster: TestCluster;
const events: PageviewEvent[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    workers: 2,
    memoryBudgetBytes: 512 * 1024,
    splitTargetBytes: 2 * 1024 * 1024,
  });
  for (const e of generatePageviews({ count: EVENTS, seed: 7 })) events.push(e);
  await cluster.append('pageviews', events as unknown as Array<Record<string, unknown>>, (e) =>
    Date.parse(e.time as string),
  );
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Every entry of the current version of a view, by formatted key. */
async function readView(
  view: string,
): Promise<{ version: string; partitions: number; entries: Map<string, unknown> }> {
  const reader = await ViewReader.open(cluster.store, view);
  try {
    const entries = new Map<string, unknown>();
    for await (const [key, value] of reader.scan()) entries.set(formatKey(key), value);
    return { version: reader.version, partitions: reader.partitions, entries };
  } finally {
    await reader.close();
  }
}

/** A port nothing listens on: bound by us a moment ago, then closed. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function jobFile(name: string, text: string): Promise<string> {
  const file = path.join(cluster.cwd, name);
  await writeFile(file, text);
  return file;
}

function expectPublished(run: CliRun, view: string): void {
  expect(run.stderr.split('\n').filter((l) => /strata:/.test(l))).toEqual([]);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(
    new RegExp(
      `^published ${view} v\\d{13}-\\w+ \\([\\d,]+ keys in \\d+ parts?\\) by job \\S+ in [\\d.]+ s\\n$`,
    ),
  );
}

describe('strata submit on a 2-worker cluster', () => {
  it('pageviews: 200k events, 4 partitions, spilling; the view equals a direct count key by key', async () => {
    const run = await cluster.strata([
      'submit',
      path.join(REPO, 'examples/web-analytics/pageviews.ts'),
      '--wait',
      '--partitions',
      '4',
    ]);
    expectPublished(run, 'pageviews');
    expect(run.stderr).toMatch(/^job \S+ succeeded: map (\d+)\/\1 tasks, 200,000 records/m); // plain progress lines: stderr is not a terminal

    const expected = new Map<string, number>();
    for (const e of events) {
      const k = formatKey([e.url, eventHour(e.time)]);
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    const view = await readView('pageviews');
    expect(view.partitions).toBe(4);
    expect(view.entries.size).toBe(expected.size);
    for (const [k, n] of expected)
      if (view.entries.get(k) !== n) expect([k, view.entries.get(k)]).toEqual([k, n]);

    const jobId = /by job (\S+)/.exec(run.stdout)![1]!;
    const [json, text] = await Promise.all([
      cluster.strata(['status', jobId, '--json']),
      cluster.strata(['status', jobId]),
    ]);
    expect(text.stdout).toMatch(
      new RegExp(`^job ${jobId} \\(pageviews → view pageviews\\): succeeded, version v\\d{13}-`),
    );
    expect(text.stdout).toMatch(
      /^ {2}counters {3}records in [\d,]+, out [\d,]+, bad 0, bytes in [\d.]+ MB, shuffled [\d.]+ [kM]B, spills [1-9]\d* /m,
    );
    expect(text.stdout).toMatch(/^r-3\s+reduce\s+succeeded\s+1\s+\S+/m);
    const status = JSON.parse(json.stdout) as {
      state: string;
      counters: { spills: number; recordsIn: number };
      tasks: Array<{ kind: string }>;
    };
    expect(status.state).toBe('succeeded');
    expect(status.counters.spills).toBeGreaterThan(0); // the 512 KiB budget forced map-side spills
    expect(status.tasks.filter((t) => t.kind === 'map').length).toBeGreaterThanOrEqual(14); // one or more splits per daily segment
    expect(status.tasks.filter((t) => t.kind === 'reduce')).toHaveLength(4);
  });

  it('unique visitors: exact up to 1,024 visitors per URL, within 3 sigma of the sketch error above', async () => {
    const run = await cluster.strata([
      'submit',
      path.join(REPO, 'examples/web-analytics/unique-visitors.ts'),
      '--wait',
    ]);
    expectPublished(run, 'unique-visitors');
    const visitors = new Map<string, Set<string>>();
    for (const e of events) {
      let s = visitors.get(e.url);
      if (!s) visitors.set(e.url, (s = new Set()));
      s.add(e.visitor);
    }
    const view = await readView('unique-visitors');
    expect(view.entries.size).toBe(visitors.size);
    let sketched = 0;
    for (const [url, set] of visitors) {
      const estimate = view.entries.get(formatKey([url])) as number;
      if (set.size <= 1024) {
        if (estimate !== set.size) expect([url, estimate]).toEqual([url, set.size]);
      } else {
        sketched++;
        expect(Math.abs(estimate - set.size)).toBeLessThanOrEqual(3 * DISTINCT_SE * set.size);
      }
    }
    expect(sketched).toBeGreaterThan(0); // the dense-sketch path was exercised
  });

  it('word count over a multi-MB text equals the words the text was made of', async () => {
    const rand = sfc32(99);
    const vocabulary = Array.from({ length: 5000 }, (_, i) =>
      i % 97 === 0 ? `Word${i}'s` : `w${i.toString(36)}`,
    );
    const expected = new Map<string, number>();
    const lines: Array<{ line: string; time: number }> = [];
    let bytes = 0;
    const t0 = Date.UTC(2024, 5, 1);
    while (bytes < 4_000_000) {
      const words: string[] = [];
      for (let n = 3 + Math.floor(rand() * 14); n > 0; n--) {
        const w = vocabulary[Math.floor(vocabulary.length * rand() ** 3)]!; // skewed: a few words are very common
        words.push(w);
        expected.set(w.toLowerCase(), (expected.get(w.toLowerCase()) ?? 0) + 1);
      }
      const line = `${words.join(rand() < 0.3 ? ', ' : ' ')}.`;
      bytes += line.length + 1;
      lines.push({ line, time: t0 + lines.length * 1000 });
    }
    await cluster.append('lines', lines, (r) => r.time);
    const run = await cluster.strata([
      'submit',
      path.join(REPO, 'examples/wordcount/wordcount.ts'),
      '--wait',
      '--partitions',
      '3',
    ]);
    expectPublished(run, 'wordcount');
    const view = await readView('wordcount');
    expect(new Map([...view.entries].map(([k, v]) => [JSON.parse(k)[0] as string, v]))).toEqual(
      expected,
    );
  });

  it('a job with its own reduce (no combine) gets every value of a key', async () => {
    const file = await jobFile(
      'country-stats.ts',
      `import { defineJob } from 'strata';
export default defineJob({
  name: 'country-stats',
  input: { dataset: 'pageviews' },
  map: (pv: { country: string; visitor: string; durationMs: number }, emit) => emit(pv.country, [pv.visitor, pv.durationMs]),
  reduce: (key, values: readonly [string, number][]) => {
    const visitors = new Set(values.map(([v]) => v));
    return { views: values.length, visitors: visitors.size, maxMs: Math.max(...values.map(([, d]) => d)) };
  },
  partitions: 5,
});
`,
    );
    const run = await cluster.strata(['submit', file, '--wait']);
    expectPublished(run, 'country-stats');
    const expected = new Map<string, { views: number; visitors: Set<string>; maxMs: number }>();
    for (const e of events) {
      const s = expected.get(e.country) ?? {
        views: 0,
        visitors: new Set<string>(),
        maxMs: -Infinity,
      };
      s.views++;
      s.visitors.add(e.visitor);
      s.maxMs = Math.max(s.maxMs, e.durationMs);
      expected.set(e.country, s);
    }
    const view = await readView('country-stats');
    expect(Object.fromEntries(view.entries)).toEqual(
      Object.fromEntries(
        [...expected].map(([c, s]) => [
          formatKey([c]),
          { views: s.views, visitors: s.visitors.size, maxMs: s.maxMs },
        ]),
      ),
    );
    const get = await cluster.strata(['get', 'country-stats', 'DE']);
    expect(JSON.parse(get.stdout)).toEqual({
      views: expected.get('DE')!.views,
      visitors: expected.get('DE')!.visitors.size,
      maxMs: expected.get('DE')!.maxMs,
    });
  });
});

describe('bad input: a clear error and a non-zero exit of the real CLI', () => {
  it('a job file that does not compile, an unknown dataset, an empty date range', async () => {
    const broken = await jobFile(
      'broken.ts',
      "import { defineJob, count } from 'strata';\nexport default defineJob({\n  name: 'broken',\n  map: (r, emit) => emit(r.url 1),\n});\n",
    );
    const unknown = await jobFile(
      'unknown.ts',
      "import { defineJob, count } from 'strata';\nexport default defineJob({ name: 'unknown', input: { dataset: 'no-such-data' }, map: (r: { url: string }, emit) => emit(r.url, 1), aggregate: count() });\n",
    );
    const empty = await jobFile(
      'empty.ts',
      "import { defineJob, count } from 'strata';\nexport default defineJob({ name: 'empty-range', input: { dataset: 'pageviews', from: '2030-01-01', to: '2030-01-31' }, map: (r: { url: string }, emit) => emit(r.url, 1), aggregate: count() });\n",
    );
    const [a, b, c] = await Promise.all(
      [broken, unknown, empty].map((f) => cluster.strata(['submit', f, '--wait'])),
    );
    expect(a!.code).toBe(1);
    expect(a!.stderr).toMatch(
      /^strata: \S*broken\.ts does not compile \(1 error\):\nbroken\.ts:4:32: Expected "\)" but found "1"\n {6}map: \(r, emit\) => emit\(r\.url 1\),\n {35}\^ \[STRATA_E_BUNDLE\]\n$/,
    );
    expect(b!.code).toBe(1);
    expect(b!.stderr).toMatch(/no-such-data[\s\S]*\[STRATA_E_DATASET_NOT_FOUND\]\n$/);
    expect(c!.code).toBe(1);
    expect(c!.stderr).toMatch(/2030-01-01[\s\S]*\[STRATA_E_DATE_RANGE\]\n$/);
    for (const view of ['broken', 'unknown', 'empty-range'])
      expect(await readCurrentVersion(cluster.store, view)).toBeUndefined();
  });

  it("a map that throws fails the job at once, naming segment and record, with the user's stack; nothing is published", async () => {
    const victim = events[123_456]!;
    const file = await jobFile(
      'bad-map.ts',
      `import { defineJob, count } from 'strata';
export default defineJob({
  name: 'bad-map',
  input: { dataset: 'pageviews' },
  map: (pv: { url: string; time: string }, emit) => {
    if (pv.time === ${JSON.stringify(victim.time)}) throw new RangeError('cannot count ' + pv.url);
    emit(pv.url, 1);
  },
  aggregate: count(),
});
`,
    );
    const run = await cluster.strata(['submit', file, '--wait'], { timeoutMs: 90_000 });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const message = run.stderr.slice(run.stderr.indexOf('strata: '));
    expect(message).toMatch(
      /^strata: job (\S+) \(bad-map\) failed: job 'bad-map': map threw on the record at position \d+ of split m-\d+ \(record \d+ of block \d+ of segment master\/pageviews\/dt=2024-06-\d\d\/\S+\.seg\): cannot count /,
    );
    expect(message).toContain(`"time":"${victim.time}"`); // the record itself
    // The user's own file and line (through the bundle's source map), and none of Strata's frames.
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(message).toMatch(
      new RegExp(
        `\\n {2}RangeError: cannot count \\S+\\n {4}at (Object\\.)?map \\(${escaped}:6:\\d+\\) \\[STRATA_E_JOB_MAP_FAILED\\]\\n$`,
      ),
    );
    const jobId = /job (\S+) \(bad-map\)/.exec(message)![1]!;
    const status = JSON.parse((await cluster.strata(['status', jobId, '--json'])).stdout) as {
      state: string;
      error: { code: string };
    };
    expect([status.state, status.error.code]).toEqual(['failed', 'STRATA_E_JOB_MAP_FAILED']);
    expect(await readCurrentVersion(cluster.store, 'bad-map')).toBeUndefined();
  });

  it('a wrong token, no coordinator, and Redis unreachable', async () => {
    const closed = await closedPort();
    const [wrongToken, noCoordinator, noRedis] = await Promise.all([
      cluster.strata(['jobs', '--token', 'not-the-token']),
      cluster.strata(['jobs', '--coordinator', `http://127.0.0.1:${closed}`, '--token', 'x']),
      cluster.strata([
        'coordinator',
        '--redis',
        `redis://127.0.0.1:${closed}`,
        '--token',
        'x',
        '--port',
        '0',
      ]),
    ]);
    expect([wrongToken.code, wrongToken.stderr]).toEqual([
      1,
      expect.stringMatching(
        /^strata: the coordinator at http:\/\/127\.0\.0\.1:\d+ refused the token .*\[STRATA_E_AUTH\]\n$/,
      ),
    ]);
    expect([noCoordinator.code, noCoordinator.stderr]).toEqual([
      1,
      `strata: the coordinator at http://127.0.0.1:${closed} refused the connection; start a cluster with strata dev, or point --coordinator (STRATA_COORDINATOR_URL) at a running one [STRATA_E_COORDINATOR_UNAVAILABLE]\n`,
    ]);
    expect(noRedis.code).toBe(1);
    expect(noRedis.stderr).toMatch(
      new RegExp(
        `strata: Redis is not reachable at redis://127\\.0\\.0\\.1:${closed}.*\\[STRATA_E_REDIS_UNAVAILABLE\\]\\n$`,
      ),
    );
  });
});

describe('the other commands against the same cluster', () => {
  it('cancel stops a running job: nothing is published, and a second cancel changes nothing', async () => {
    const file = await jobFile(
      'slow.ts',
      `import { defineJob, count } from 'strata';
const pause = new Int32Array(new SharedArrayBuffer(4));
let n = 0;
export default defineJob({
  name: 'slow',
  input: { dataset: 'pageviews' },
  map: (pv: { url: string }, emit) => {
    if (++n % 200 === 0) Atomics.wait(pause, 0, 0, 20); // ~20 s of map work in all, mostly asleep
    emit(pv.url, 1);
  },
  aggregate: count(),
});
`,
    );
    const submitted = await cluster.strata(['submit', file, '--no-wait']);
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    const cancelled = await cluster.strata(['cancel', id]);
    expect([cancelled.code, cancelled.stdout]).toEqual([0, `job ${id}: cancelled\n`]);
    const again = await cluster.strata(['cancel', id, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({
      id,
      state: 'cancelled',
      error: { code: 'STRATA_E_JOB_CANCELLED' },
    });
    expect(await readCurrentVersion(cluster.store, 'slow')).toBeUndefined();
  });

  it('jobs lists what ran; views lists what was published; scan reads a row', async () => {
    const [jobs, views, scan, table, unknown] = await Promise.all([
      cluster.strata(['jobs', '--json']),
      cluster.strata(['views', '--json']),
      cluster.strata(['scan', 'pageviews', events[0]!.url, '--limit', '5']),
      cluster.strata(['jobs']),
      cluster.strata(['status', 'no-such-job']),
    ]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^id\s+state\s+view\s+version\s+map\s+reduce\s+submitted\s+took$/,
    );
    expect(table.stdout).toMatch(
      /^\S+\s+succeeded\s+pageviews\s+v\d{13}-\S+\s+\d+\/\d+\s+4\/4\s+/m,
    );
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      expect.stringMatching(/^strata: no job "no-such-job" .*\[STRATA_E_JOB_NOT_FOUND\]\n$/),
    ]);
    const states = (
      JSON.parse(jobs.stdout) as Array<{ spec: { view: string }; state: string }>
    ).map((j) => `${j.spec.view}:${j.state}`);
    expect(states).toEqual(
      expect.arrayContaining([
        'pageviews:succeeded',
        'unique-visitors:succeeded',
        'wordcount:succeeded',
        'country-stats:succeeded',
        'bad-map:failed',
        'slow:cancelled',
      ]),
    );
    expect((JSON.parse(views.stdout) as Array<{ view: string }>).map((v) => v.view).sort()).toEqual(
      ['country-stats', 'pageviews', 'unique-visitors', 'wordcount'],
    );
    const rows = scan.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as [KeyPart[], number]);
    expect(rows).toHaveLength(5);
    for (const [key] of rows) expect(key[0]).toBe(events[0]!.url);
  });
});
