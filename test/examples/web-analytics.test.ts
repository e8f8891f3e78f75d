import { describe, expect, it } from 'vitest';
import { isJobDefinition, localView, runLocal } from 'strata';
import { compareKeys } from '../../core/keys/key-codec.ts';
import { eventHour } from '../../examples/web-analytics/event-hour.ts';
import { generatePageviews } from '../../examples/web-analytics/generate-pageviews.ts';
import pageviews from '../../examples/web-analytics/pageviews.ts';
import uniqueVisitors from '../../examples/web-analytics/unique-visitors.ts';

const events = [...generatePageviews({ count: 20_000, seed: 42 })];

describe('web analytics examples', () => {
  it('are job modules whose default export is a job definition', () => {
    expect(isJobDefinition(pageviews)).toBe(true);
    expect(isJobDefinition(uniqueVisitors)).toBe(true);
    expect(pageviews.staticSpec()).toMatchObject({
      name: 'pageviews',
      input: { dataset: 'pageviews' },
      reduce: 'aggregate:count',
    });
    expect(uniqueVisitors.staticSpec()).toMatchObject({
      name: 'unique-visitors',
      reduce: 'aggregate:distinct',
      aggregateOptions: { precision: 14 },
    });
  });

  it('pageviews counts views per [url, UTC hour] exactly, in key order', async () => {
    const expected = new Map<string, number>();
    for (const e of events) {
      const id = JSON.stringify([e.url, new Date(e.time).toISOString().slice(0, 13)]);
      expected.set(id, (expected.get(id) ?? 0) + 1);
    }
    const rows = await runLocal(pageviews, events, { splitSize: 4096 });
    expect(new Map(rows.map(([key, n]) => [JSON.stringify(key), n]))).toEqual(expected);
    expect(rows.reduce((t, r) => t + r[1], 0)).toBe(events.length);
    for (let i = 1; i < rows.length; i++)
      expect(compareKeys(rows[i - 1]![0], rows[i]![0])).toBeLessThan(0);
  });

  it('unique-visitors is exact up to 1,024 visitors per url and within 3 standard errors above', async () => {
    const visitors = new Map<string, Set<string>>();
    for (const e of events) {
      let set = visitors.get(e.url);
      if (!set) visitors.set(e.url, (set = new Set()));
      set.add(e.visitor);
    }
    const view = localView(await runLocal(uniqueVisitors, events, { splitSize: 3000 }));
    expect(view.size).toBe(visitors.size);
    let dense = 0;
    for (const [url, set] of visitors) {
      const estimate = view.get(url)!;
      if (set.size <= 1024) expect(estimate, url).toBe(set.size);
      else {
        dense++;
        expect(Math.abs(estimate - set.size) / set.size, url).toBeLessThanOrEqual(3 * 0.0081);
      }
    }
    expect(dense).toBeGreaterThan(0); // the home page is popular enough to use the sketch
  });

  it('eventHour takes UTC ISO strings, ISO strings with an offset, and epoch milliseconds', () => {
    expect(eventHour('2024-06-03T14:05:09.123Z')).toBe('2024-06-03T14');
    expect(eventHour('2024-06-03T00:30:00+02:00')).toBe('2024-06-02T22');
    expect(eventHour(Date.UTC(2024, 5, 3, 14, 5))).toBe('2024-06-03T14');
    expect(() => eventHour('yesterday')).toThrow(/ISO-8601 string or epoch milliseconds/);
  });
});
