/**
 * Page views per URL and UTC hour: the view answers get([url, 'YYYY-MM-DDTHH']) and, by prefix,
 * every hour of one URL (views partition by the key's first element, the URL).
 *
 *   strata submit examples/web-analytics/pageviews.ts
 *
 * `time` is an ISO-8601 string or epoch milliseconds (see event-hour.ts).
 */
import { count, defineJob } from 'strata';
import { eventHour } from './event-hour.ts';

export interface Pageview {
  url: string;
  time: string | number;
}

export default defineJob({
  name: 'pageviews',
  input: { dataset: 'pageviews' },
  map: (pv: Pageview, emit) => emit([pv.url, eventHour(pv.time)], 1),
  aggregate: count(),
  partitions: 8,
});
