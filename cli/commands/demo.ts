/**
 * `strata demo [--events N] [--workers N]`: the end-to-end tour on the embedded default.
 *
 * Starts a whole local cluster (its own redis-server, a coordinator and 2 worker processes) on a
 * demo store under <home>/demo (cleared first, so the figures are this run's), generates realistic
 * pageview events, ingests them into the master dataset, runs the pageviews and unique-visitors
 * jobs through the real distributed path (BullMQ, worker threads, gRPC shuffle, view files),
 * reads the answers back by key, and stops every process it started.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { datasetStats } from '../../core/dataset/dataset-stats.ts';
import { StrataError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { ViewReader } from '../../core/views/view-reader.ts';
import { writePageviewsNdjson } from '../../examples/web-analytics/generate-pageviews.ts';
import { bundleJob, uploadBundle } from '../bundle-job.ts';
import { startLocalCluster } from '../cluster/local-cluster.ts';
import { CoordinatorClient, type JobStatus } from '../coordinator-client.ts';
import { ingestFile } from '../input/ingest-file.ts';
import { jobProgress } from '../progress.ts';
import { describeSummary } from './ingest.ts';
import { jobError, jobSpecOf } from './submit.ts';
import { packagePath } from '../../core/package-root.ts';

const EXAMPLES = packagePath('examples/web-analytics/');

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'start a local cluster, ingest generated pageviews, run the pageviews and unique-visitors jobs, read the answers by key, stop',
    )
    .option('--events <n>', 'number of pageview events to generate', '1000000')
    .option('--workers <n>', 'worker processes', '2')
    .action(async (flags: { events: string; workers: string }) => {
      const events = positive('--events', flags.events);
      const workers = positive('--workers', flags.workers);
      await runDemo(events, workers);
    });
}

function positive(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new StrataError('STRATA_E_USAGE', `${flag} must be a positive integer, got "${raw}"`);
  return n;
}

async function runDemo(events: number, workers: number): Promise<void> {
  const config = loadConfig();
  const dir = path.join(config.home, 'demo');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const t0 = performance.now();
  const storeUrl = `file://${path.join(dir, 'store')}`;

  say(`1/5 starting a local cluster: redis-server, coordinator, ${workers} worker processes…`);
  const cluster = await startLocalCluster({
    home: path.join(dir, 'cluster'),
    workers,
    store: storeUrl,
    logLevel: config.logLevel,
    noClusterFile: true,
  });
  const store = await openStore(storeUrl);
  try {
    say(
      `    coordinator ${cluster.info.coordinatorUrl}, view server ${cluster.info.serveUrl}, redis ${cluster.info.redisUrl}, logs in ${cluster.logDir}`,
    );

    say(
      `2/5 generating ${events.toLocaleString('en-US')} pageview events (14 days, Zipf-like URL popularity)…`,
    );
    const file = path.join(dir, 'pageviews.ndjson');
    const gen = await writePageviewsNdjson(events, file, { seed: 42 });
    say(`    ${file}: ${(gen.bytes / 1e6).toFixed(1)} MB`);

    say('3/5 ingesting into the master dataset "pageviews"…');
    say(`    ${describeSummary(await ingestFile(store, { path: file, dataset: 'pageviews' }))}`);
    const stats = await datasetStats(store, 'pageviews');
    say(
      `    dataset pageviews: ${stats.records.toLocaleString('en-US')} records in ${stats.segments} segments, ${stats.firstDate} … ${stats.lastDate}`,
    );

    const client = new CoordinatorClient({
      url: cluster.info.coordinatorUrl,
      token: cluster.info.token,
    });
    say('4/5 running the jobs on the cluster (map → gRPC shuffle → reduce → view files)…');
    for (const job of ['pageviews.ts', 'unique-visitors.ts']) {
      const final = await runJob(client, store, path.join(EXAMPLES, job));
      say(
        `    ${final.spec.view}: published ${final.version} in ${(((final.finished ?? Date.now()) - final.submitted) / 1000).toFixed(1)} s (${final.phases.map.total} map, ${final.phases.reduce.total} reduce tasks)`,
      );
    }

    say('5/5 reading the views back by key…');
    await showAnswers(store, say);
  } finally {
    await store.close();
    await cluster.stop();
  }
  say(
    `\ndemo finished in ${((performance.now() - t0) / 1000).toFixed(1)} s; every process it started has stopped.`,
  );
  say(`the data stays in ${dir}: try  strata views --store ${storeUrl}`);
}

async function runJob(
  client: CoordinatorClient,
  store: ObjectStore,
  file: string,
): Promise<JobStatus> {
  const { bundle, spec } = await bundleJob(file);
  await uploadBundle(store, bundle);
  const submitted = await client.submit(jobSpecOf(spec, bundle.sha256));
  const progress = jobProgress(process.stderr);
  let final: JobStatus;
  try {
    final = await client.waitFor(submitted.id, { onStatus: (s) => progress.update(s) });
  } finally {
    progress.stop();
  }
  if (final.state !== 'succeeded') throw jobError(final);
  return final;
}

async function showAnswers(store: ObjectStore, say: (line: string) => void): Promise<void> {
  const pageviews = await ViewReader.open(store, 'pageviews');
  const uniques = await ViewReader.open(store, 'unique-visitors');
  try {
    // The view is keyed [url, hour]; a URL's total is the sum over its hours (one range scan each).
    const perUrl = new Map<string, number>();
    for await (const [[url], n] of pageviews.scan({}))
      perUrl.set(url as string, (perUrl.get(url as string) ?? 0) + (n as number));
    const top = [...perUrl].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    say('\nTop 10 URLs by views (views, unique visitors):');
    for (const [url, n] of top)
      say(`  ${String(n).padStart(9)}  ${String(await uniques.get([url])).padStart(8)}  ${url}`);

    const [url] = top[0]!;
    say(
      `\nHourly views of ${url}, read back by key prefix from the pageviews view (first 12 hours):`,
    );
    let firstHour: string | undefined;
    for await (const [key, n] of pageviews.scan({ prefix: [url], limit: 12 })) {
      firstHour ??= key[1] as string;
      say(`  ${key[1]}  ${n}`);
    }
    if (firstHour)
      say(
        `  strata get pageviews ${url} ${firstHour}  →  ${JSON.stringify(await pageviews.get([url, firstHour]))}`,
      );
  } finally {
    await pageviews.close();
    await uniques.close();
  }
}
