import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  generatePageviews,
  pageviewToNdjson,
  writePageviewsNdjson,
} from '../../examples/web-analytics/generate-pageviews.ts';
import type { PageviewEvent } from '../../examples/web-analytics/generate-pageviews.ts';

const dir = mkdtempSync(join(tmpdir(), 'strata-pv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sample = [...generatePageviews({ count: 100_000, seed: 7 })];

describe('generatePageviews', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const lines = (events: Iterable<PageviewEvent>): string =>
      Array.from(events, pageviewToNdjson).join('');
    expect(lines(generatePageviews({ count: 100_000, seed: 7 }))).toBe(lines(sample));
    const again = [...generatePageviews({ count: 2_000, seed: 7 })];
    expect([...generatePageviews({ count: 2_000, seed: 7 })]).toEqual(again);
    const other = [...generatePageviews({ count: 2_000, seed: 8 })];
    expect(other.filter((e, i) => e.url === again[i]!.url).length).toBeLessThan(600);
  });

  it('writes ~200 bytes of valid NDJSON per event', () => {
    const lines = sample.slice(0, 5_000).map(pageviewToNdjson);
    expect(lines.map((line) => JSON.parse(line) as PageviewEvent)).toEqual(sample.slice(0, 5_000));
    const average = sample.reduce((t, e) => t + pageviewToNdjson(e).length, 0) / sample.length;
    expect(average).toBeGreaterThan(180);
    expect(average).toBeLessThan(230);
  });

  it('spreads events over 14 days ending on the fixed date, in time order, with a daily rhythm', () => {
    const times = sample.map((e) => Date.parse(e.time));
    expect(times.filter((t, i) => i > 0 && t < times[i - 1]!)).toEqual([]);
    expect(times[0]!).toBeGreaterThanOrEqual(Date.parse('2024-06-01T00:00:00Z'));
    expect(times.at(-1)!).toBeLessThan(Date.parse('2024-06-15T00:00:00Z'));
    const days = new Set(sample.map((e) => e.time.slice(0, 10)));
    expect(days.size).toBe(14);
    const byHour = new Array<number>(24).fill(0);
    for (const e of sample) byHour[Number(e.time.slice(11, 13))]!++;
    expect(Math.max(...byHour) / Math.min(...byHour)).toBeGreaterThan(3);
    const custom = [...generatePageviews({ count: 1_000, days: 3, end: '2025-01-01' })];
    expect(new Set(custom.map((e) => e.time.slice(0, 10)))).toEqual(
      new Set(['2024-12-30', '2024-12-31', '2025-01-01']),
    );
  });

  it('has Zipf-skewed url popularity over a few thousand paths', () => {
    const counts = new Map<string, number>();
    for (const e of sample) counts.set(e.url, (counts.get(e.url) ?? 0) + 1);
    const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    const share = (n: number): number =>
      sorted.slice(0, n).reduce((t, [, c]) => t + c, 0) / sample.length;
    expect(sorted[0]![0]).toBe('/');
    expect(share(1)).toBeGreaterThan(0.08); // s = 1.1 over 3,000 paths: ~12%
    expect(share(1)).toBeLessThan(0.18);
    expect(share(10)).toBeGreaterThan(0.3);
    expect(counts.size).toBeGreaterThan(1_500);
    // rank 1 vs rank 10 of a Zipf law with s = 1.1 is 10^1.1 ≈ 12.6
    expect(sorted[0]![1] / sorted[9]![1]).toBeGreaterThan(7);
    expect(sorted[0]![1] / sorted[9]![1]).toBeLessThan(20);
  });

  it('brings visitors back: about a third of views are a first visit, and each keeps one agent and country', () => {
    const first = new Map<string, PageviewEvent>();
    const changed: PageviewEvent[] = [];
    for (const e of sample) {
      const seen = first.get(e.visitor);
      if (!seen) first.set(e.visitor, e);
      else if (seen.userAgent !== e.userAgent || seen.country !== e.country) changed.push(e);
    }
    expect(changed).toEqual([]);
    expect(first.size / sample.length).toBeGreaterThan(0.3);
    expect(first.size / sample.length).toBeLessThan(0.4);
    expect(new Set(sample.map((e) => e.session)).size).toBeLessThan(sample.length);
    expect(sample.filter((e) => e.referrer === '').length / sample.length).toBeGreaterThan(0.3);
  });

  it('refuses bad options with STRATA_E_USAGE', () => {
    expect(() => [...generatePageviews({ count: -1 })]).toThrow(/count must be a whole number/);
    expect(() => [...generatePageviews({ count: 1, end: '2024-13-01x' })]).toThrow(
      /end must be a date/,
    );
  });
});

describe('writePageviewsNdjson', () => {
  it('streams the same events to a file, reporting events and bytes', async () => {
    const path = join(dir, 'pv.ndjson');
    const result = await writePageviewsNdjson(20_000, path, { seed: 7 });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(result).toEqual({ events: 20_000, bytes: statSync(path).size });
    expect(lines.map((l) => JSON.parse(l) as PageviewEvent)).toEqual([
      ...generatePageviews({ count: 20_000, seed: 7 }),
    ]);
  });

  it('honours backpressure on a slow stream, and is fast', async () => {
    let written = 0;
    let waits = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        written += chunk.length;
        waits++;
        setTimeout(done, 1);
      },
    });
    const started = process.cpuUsage();
    const result = await writePageviewsNdjson(200_000, slow);
    const cpu = process.cpuUsage(started);
    const rate = 200_000 / ((cpu.user + cpu.system) / 1e6);
    console.log(
      `writePageviewsNdjson: ${Math.round(rate)} events/s of CPU time, ${(result.bytes / 200_000).toFixed(0)} B/event`,
    );
    expect(written).toBe(result.bytes);
    expect(waits).toBeGreaterThan(10);
    expect(rate).toBeGreaterThan(50_000); // a sanity floor on a noisy shared machine; ~300k/s typical
  });

  it('runs as a command that writes NDJSON to stdout', async () => {
    const script = resolve(
      import.meta.dirname,
      '../../examples/web-analytics/generate-pageviews.ts',
    );
    const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
    const { stdout, stderr } = await promisify(execFile)(
      tsx,
      [script, '--count', '300', '--seed', '7'],
      { maxBuffer: 1 << 24 },
    );
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(300);
    expect(lines.map((l) => JSON.parse(l) as PageviewEvent)).toEqual([
      ...generatePageviews({ count: 300, seed: 7 }),
    ]);
    expect(stderr).toMatch(/300 events, \d+ bytes/);
  });
});
