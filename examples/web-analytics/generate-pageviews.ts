/**
 * A deterministic generator of realistic pageview events, for demos, tests and benchmarks.
 *
 *   for (const pv of generatePageviews({ count: 1000, seed: 7 })) console.log(pv.url);
 *   await writePageviewsNdjson(1_000_000, 'pv.ndjson');
 *   // or from a shell:
 *   //   npx tsx examples/web-analytics/generate-pageviews.ts --count 1000000 > pv.ndjson
 *
 * What it models: one site of ~3,000 paths whose popularity is Zipf-like (s = 1.1: the home page
 * gets ~1 view in 8, the long tail a few each); times over `days` days ending on `end` (UTC,
 * inclusive), in time order, with a daily rhythm and quieter weekends; visitors who come back
 * (about a third of views are a new visitor's first), sessions of 30 minutes, referrers, user
 * agents, countries and log-normal view durations. One event is ~200 bytes of NDJSON.
 * The same options and seed always give the same events, on every machine.
 */
import { createWriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { StrataError } from '../../core/errors.ts';
import { sfc32 } from './seeded-random.ts';
import { siteCatalogue } from './site-catalogue.ts';

export interface PageviewEvent {
  /** ISO-8601 UTC, millisecond precision, e.g. '2024-06-03T14:05:09.123Z'. */
  time: string;
  url: string;
  visitor: string;
  session: string;
  /** '' for direct traffic. */
  referrer: string;
  userAgent: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  durationMs: number;
}

export interface GenerateOptions {
  count: number;
  /** Default 1. */
  seed?: number;
  /** How many days the events span. Default 14. */
  days?: number;
  /** The last day, 'YYYY-MM-DD' (UTC), inclusive. Default '2024-06-14'. */
  end?: string;
}

export const DEFAULT_END = '2024-06-14';
export const DEFAULT_DAYS = 14;
export const ZIPF_EXPONENT = 1.1;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const SESSION_MS = 30 * 60_000;
const NEW_VISITOR_SHARE = 0.35;

// Relative traffic per UTC hour: a mixed Europe/Americas audience.
const HOURLY = [
  2, 1.5, 1.2, 1, 1, 1.2, 1.8, 2.6, 3.4, 4, 4.3, 4.5, 4.6, 4.6, 4.7, 4.8, 4.8, 4.6, 4.3, 4, 3.6,
  3.2, 2.8, 2.4,
];
const WEEKEND_FACTOR = 0.7;

const REFERRERS: Array<[string, number]> = [
  ['', 38],
  ['https://www.google.com/', 27],
  ['internal', 12],
  ['https://www.bing.com/', 5],
  ['https://duckduckgo.com/', 3],
  ['https://news.ycombinator.com/', 4],
  ['https://t.co/', 4],
  ['https://www.reddit.com/', 4],
  ['https://www.linkedin.com/', 2],
  ['https://newsletter.example.org/', 1],
];
const AGENTS: Array<[string, number]> = [
  ['Chrome/126.0 (Windows NT 10.0)', 30],
  ['Safari/17.5 (Macintosh)', 12],
  ['Firefox/127.0 (Windows NT 10.0)', 6],
  ['Chrome/126.0 (X11; Linux)', 4],
  ['Safari/604.1 (iPhone; iOS 17_5)', 20],
  ['Chrome/126.0 Mobile (Android 14)', 22],
  ['Safari/604.1 (iPad; iOS 17_5)', 4],
  ['Googlebot/2.1', 2],
];
const COUNTRIES: Array<[string, number]> = [
  ['US', 30],
  ['DE', 10],
  ['GB', 8],
  ['IN', 8],
  ['FR', 6],
  ['BR', 5],
  ['JP', 5],
  ['CA', 4],
  ['NL', 3],
  ['ES', 3],
  ['IT', 3],
  ['PL', 3],
  ['AU', 3],
  ['SE', 2],
  ['MX', 2],
  ['KR', 2],
  ['CH', 1],
  ['AT', 1],
  ['NG', 1],
  ['ZA', 1],
];

export function* generatePageviews(options: GenerateOptions): Generator<PageviewEvent> {
  const next = pageviewCursor(options);
  for (let e = next(); e; e = next()) yield { ...e };
}

/**
 * The generator's engine: each call refills and returns one shared event object (undefined at
 * the end), so the NDJSON writer allocates nothing per event but the strings.
 */
function pageviewCursor(options: GenerateOptions): () => PageviewEvent | undefined {
  const { count, seed, days, end } = checkOptions(options);
  const rand = sfc32(seed);
  const urls = siteCatalogue();
  const urlCdf = cumulative(urls.map((_, rank) => (rank + 1) ** -ZIPF_EXPONENT));
  const referrerCdf = cumulative(REFERRERS.map((r) => r[1]));
  const agentCdf = cumulative(AGENTS.map((a) => a[1]));
  const countryCdf = cumulative(COUNTRIES.map((c) => c[1]));
  const startMs = Date.parse(`${end}T00:00:00Z`) - (days - 1) * DAY_MS;
  const slotCdf = cumulative(
    Array.from({ length: days * 24 }, (_, slot) => {
      const weekday = new Date(startMs + Math.floor(slot / 24) * DAY_MS).getUTCDay();
      return HOURLY[slot % 24]! * (weekday === 0 || weekday === 6 ? WEEKEND_FACTOR : 1);
    }),
  );
  // Per visitor: agent and country stay with them, as they would.
  const visitorAgent: number[] = [];
  const visitorCountry: number[] = [];
  const visitorLastUrl: number[] = [];
  const visitorIds: string[] = [];
  const visitorSession: string[] = [];
  const visitorBucket: number[] = [];
  const firstBucket = Math.floor(startMs / SESSION_MS);
  const bucketSuffix = Array.from({ length: Math.ceil((days * DAY_MS) / SESSION_MS) + 1 }, (_, b) =>
    b.toString(36),
  );
  const clock = isoClock();
  const internalReferrer = urls.map((url) => `https://shop.example.com${url}`);
  const event: PageviewEvent = {
    time: '',
    url: '',
    visitor: '',
    session: '',
    referrer: '',
    userAgent: '',
    country: '',
    durationMs: 0,
  };

  let slot = 0;
  let i = 0;
  return () => {
    if (i >= count) return undefined;
    // Evenly spaced positions with jitter inside each step keep times sorted; the slot CDF warps
    // them into the daily rhythm.
    const x = (i++ + rand()) / count;
    while (slotCdf[slot]! <= x && slot < slotCdf.length - 1) slot++;
    const lo = slot === 0 ? 0 : slotCdf[slot - 1]!;
    const ms = startMs + slot * HOUR_MS + Math.floor(((x - lo) / (slotCdf[slot]! - lo)) * HOUR_MS);

    let visitor: number;
    if (visitorAgent.length === 0 || rand() < NEW_VISITOR_SHARE) {
      visitor = visitorAgent.length;
      visitorAgent.push(search(agentCdf, rand()));
      visitorCountry.push(search(countryCdf, rand()));
      visitorLastUrl.push(-1);
      visitorIds.push(visitorId(visitor));
      visitorSession.push('');
      visitorBucket.push(-1);
    } else {
      // Loyal visitors (low numbers) come back more often than late ones.
      const u = rand();
      visitor = Math.floor(u * u * visitorAgent.length);
    }
    const bucket = Math.floor(ms / SESSION_MS);
    if (visitorBucket[visitor] !== bucket) {
      visitorBucket[visitor] = bucket;
      // A session is a visitor's 30-minute window: one id per (visitor, window), made by joining
      // precomputed parts because number-to-text conversion is a hot spot here.
      visitorSession[visitor] =
        `s${visitorIds[visitor]!.slice(1)}${bucketSuffix[bucket - firstBucket]!}`;
    }
    const urlRank = search(urlCdf, rand());
    let referrer = REFERRERS[search(referrerCdf, rand())]![0];
    if (referrer === 'internal')
      referrer = visitorLastUrl[visitor]! >= 0 ? internalReferrer[visitorLastUrl[visitor]!]! : '';
    visitorLastUrl[visitor] = urlRank;
    // Log-normal around 25 s: the sum of three uniforms approximates a normal cheaply.
    const normal = (rand() + rand() + rand() - 1.5) * 2;
    event.time = clock(ms);
    event.url = urls[urlRank]!;
    event.visitor = visitorIds[visitor]!;
    event.session = visitorSession[visitor]!;
    event.referrer = referrer;
    event.userAgent = AGENTS[visitorAgent[visitor]!]![0];
    event.country = COUNTRIES[visitorCountry[visitor]!]![0];
    event.durationMs = Math.round(Math.exp(10.1 + normal));
    return event;
  };
}

/** One event as a line of NDJSON, without JSON.stringify (every string here is plain ASCII). */
export function pageviewToNdjson(e: PageviewEvent): string {
  return `{"time":"${e.time}","url":"${e.url}","visitor":"${e.visitor}","session":"${e.session}","referrer":"${e.referrer}","userAgent":"${e.userAgent}","country":"${e.country}","durationMs":${e.durationMs}}\n`;
}

/** Streams `count` events as NDJSON to a path or a writable stream, honouring backpressure. */
export async function writePageviewsNdjson(
  count: number,
  target: string | NodeJS.WritableStream,
  options: Omit<GenerateOptions, 'count'> = {},
): Promise<{ events: number; bytes: number }> {
  const file = typeof target === 'string' ? createWriteStream(target) : undefined;
  const out: NodeJS.WritableStream = file ?? (target as NodeJS.WritableStream);
  // Lines go straight into a buffer as latin1 (they are ASCII): cheaper than joining strings
  // and encoding them again as UTF-8.
  const CHUNK = 1 << 20;
  let buf = Buffer.allocUnsafe(CHUNK);
  let used = 0;
  let bytes = 0;
  let events = 0;
  const flush = async (): Promise<void> => {
    const ok = out.write(buf.subarray(0, used));
    bytes += used;
    buf = Buffer.allocUnsafe(CHUNK);
    used = 0;
    if (!ok) await drained(out);
  };
  const next = pageviewCursor({ ...options, count });
  for (let e = next(); e; e = next()) {
    const line = pageviewToNdjson(e);
    if (used + line.length > CHUNK) await flush();
    used += buf.write(line, used, 'latin1');
    events++;
  }
  if (used > 0) await flush();
  if (file) {
    await new Promise<void>((resolve, reject) => {
      file.once('error', reject);
      file.end(() => resolve());
    });
  }
  return { events, bytes };
}

function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      out.off('drain', onDrain);
      reject(err);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/** `Date#toISOString` for non-decreasing times, ~4× faster: the hour prefix is reused. */
function isoClock(): (ms: number) => string {
  const two = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));
  const three = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));
  let hourStart = NaN;
  let prefix = '';
  return (ms) => {
    const h = ms - (ms % HOUR_MS);
    if (h !== hourStart) {
      hourStart = h;
      prefix = new Date(h).toISOString().slice(0, 14);
    }
    const rest = ms - h;
    return `${prefix}${two[Math.floor(rest / 60_000)]}:${two[Math.floor(rest / 1000) % 60]}.${three[rest % 1000]}Z`;
  };
}

/** 'v' + 7 base-36 digits; a bijective 32-bit mix of n, so distinct visitors get distinct ids. */
function visitorId(n: number): string {
  let x = (n + 1) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return `v${x.toString(36).padStart(7, '0')}`;
}

function cumulative(weights: number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) out[i] = total += weights[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= total;
  out[out.length - 1] = 1;
  return out;
}

/** The first index whose cumulative weight exceeds u (u in [0, 1)). */
function search(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid]! <= u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkOptions(o: GenerateOptions): Required<GenerateOptions> {
  const count = o.count;
  const seed = o.seed ?? 1;
  const days = o.days ?? DEFAULT_DAYS;
  const end = o.end ?? DEFAULT_END;
  const problems: string[] = [];
  if (!Number.isSafeInteger(count) || count < 0)
    problems.push(`count must be a whole number ≥ 0; got ${String(count)}`);
  if (!Number.isInteger(seed)) problems.push(`seed must be an integer; got ${String(seed)}`);
  if (!Number.isInteger(days) || days < 1 || days > 3660)
    problems.push(`days must be an integer from 1 to 3660; got ${String(days)}`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(end) || Number.isNaN(Date.parse(`${end}T00:00:00Z`)))
    problems.push(`end must be a date 'YYYY-MM-DD'; got ${String(end)}`);
  if (problems.length)
    throw new StrataError(
      'STRATA_E_USAGE',
      `generatePageviews: ${problems.join('; ')}. Example: generatePageviews({ count: 1000, seed: 1, days: 14, end: '${DEFAULT_END}' })`,
    );
  return { count, seed, days, end };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '1000' },
      seed: { type: 'string' },
      days: { type: 'string' },
      end: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const num = (v: string | undefined): number | undefined =>
    v === undefined ? undefined : Number(v);
  const opts = { seed: num(values.seed), days: num(values.days), end: values.end };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0); // `| head` closed the pipe: not an error
    throw err;
  });
  const started = performance.now();
  const { events, bytes } = await writePageviewsNdjson(
    Number(values.count),
    values.out ?? process.stdout,
    opts,
  );
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `${events} events, ${bytes} bytes (${(bytes / Math.max(events, 1)).toFixed(0)} B/event) in ${seconds.toFixed(2)} s (${Math.round(events / seconds)} events/s)\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
