/** cli/progress.ts: what a user sees on stderr while `strata submit --wait` follows a job. */
import { describe, expect, it } from 'vitest';
import { emptyCounters, type Counters } from '../../core/tasks/task-payload.ts';
import type { JobStatus } from '../../cli/coordinator-client.ts';
import { jobProgress, phaseFigures } from '../../cli/progress.ts';

type Figures = { done: number; total: number; counters?: Partial<Counters> };

function status(over: Partial<JobStatus> & { map?: Figures; reduce?: Figures }): JobStatus {
  const { map = { done: 0, total: 8 }, reduce = { done: 0, total: 4 }, ...rest } = over;
  const phase = (f: Figures) => ({
    total: f.total,
    done: f.done,
    running: 0,
    failed: 0,
    counters: { ...emptyCounters(), ...f.counters },
  });
  return {
    id: 'j1',
    state: 'mapping',
    spec: {
      name: 'pv',
      view: 'pv',
      input: { dataset: 'd' },
      partitions: 4,
      reduce: 'aggregate:count',
      combine: true,
      params: {},
      codeHash: 'h',
    },
    counters: emptyCounters(),
    submitted: 0,
    started: 0,
    phases: { map: phase(map), reduce: phase(reduce) },
    inputBytes: 80_000_000,
    inputRecords: 400_000,
    ...rest,
  };
}

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = {
    isTTY: false,
    write: (s: string) => (chunks.push(s), true),
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

describe('jobProgress off a terminal', () => {
  it('writes a line per state change and at most one per interval in between, with records and MB/s', () => {
    let now = 0;
    const out = capture();
    const p = jobProgress(out.stream, { now: () => now, intervalMs: 2000 });
    p.update(status({}));
    now = 1000;
    p.update(
      status({ map: { done: 2, total: 8, counters: { recordsIn: 100_000, bytesIn: 20_000_000 } } }),
    ); // within the interval: silent
    now = 2000;
    p.update(
      status({ map: { done: 4, total: 8, counters: { recordsIn: 200_000, bytesIn: 40_000_000 } } }),
    );
    now = 4000;
    const mapsDone = { done: 8, total: 8, counters: { recordsIn: 400_000, bytesIn: 80_000_000 } };
    p.update(
      status({
        state: 'reducing',
        map: mapsDone,
        reduce: { done: 1, total: 4, counters: { recordsOut: 1000, shuffleBytes: 3_000_000 } },
      }),
    );
    now = 5000;
    p.update(
      status({
        state: 'succeeded',
        map: mapsDone,
        reduce: { done: 4, total: 4, counters: { recordsOut: 4100, shuffleBytes: 6_000_000 } },
      }),
    );
    p.stop();
    expect(out.text()).toBe(
      [
        'job j1 mapping: map 0/8 tasks, 0 records, 0.0 MB/s; reduce 0/4 tasks',
        'job j1 mapping: map 4/8 tasks, 200,000 records, 20.0 MB/s; reduce 0/4 tasks',
        // the maps ended after the last answer that had maps running (t = 2 s): 80 MB of input in 2
        // s
        'job j1 reducing: map 8/8 tasks, 400,000 records, 40.0 MB/s; reduce 1/4 tasks, 1,000 keys, 3.00 MB shuffled, 1.5 MB/s',
        'job j1 succeeded: map 8/8 tasks, 400,000 records, 40.0 MB/s; reduce 4/4 tasks, 4,100 keys, 6.00 MB shuffled, 2.0 MB/s',
        '',
      ].join('\n'),
    );
  });
});

describe('phaseFigures', () => {
  it('rates are bytes over the seconds each phase has run', () => {
    const f = phaseFigures(
      status({ map: { done: 3, total: 8, counters: { recordsIn: 10, bytesIn: 5_000_000 } } }),
      { mapSeconds: 2, reduceSeconds: 0 },
    );
    expect(f).toEqual({
      map: { done: 3, total: 8, records: 10, mbPerSecond: 2.5 },
      reduce: { done: 0, total: 4, records: 0, shuffledBytes: 0, mbPerSecond: 0 },
    });
  });
});
