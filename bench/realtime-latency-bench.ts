/**
 * `npm run bench -- realtime [--probes 200] [--clients 4] [--batch 500]`: how soon an acknowledged
 * record is visible in a served realtime view, while ingest keeps the speed layer busy.
 *
 * A whole local cluster (redis-server, coordinator, 1 worker, strata speed, strata serve as real
 * processes) keeps examples/stock-ticks/volume-by-symbol.ts realtime. `clients` loops post
 * stock-tick batches all along; a probe posts one tick of its own symbol every ~50 ms and, from
 * its acknowledgement, (a) GETs its key until the served sum includes it and (b) waits for the
 * key in the view's server-sent-events stream. Baseline in the same run: a GET round trip of a
 * key that does not change (the floor of any "visible" measurement). Target: p99 ≤ 100 ms.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleJob, uploadBundle } from '../cli/bundle-job.ts';
import { startLocalCluster } from '../cli/cluster/local-cluster.ts';
import { jobSpecOf } from '../cli/commands/submit.ts';
import { ViewServerClient } from '../cli/cluster/view-server-client.ts';
import { CoordinatorClient } from '../cli/coordinator-client.ts';
import { openStore } from '../core/store/open-store.ts';
import { tickBatches } from './ingest-http-ticks.ts';

const JOB = fileURLToPath(new URL('../examples/stock-ticks/volume-by-symbol.ts', import.meta.url));
const VIEW = 'volume-by-symbol';
const say = (s: string) => process.stdout.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      probes: { type: 'string', default: '200' },
      clients: { type: 'string', default: '4' },
      batch: { type: 'string', default: '500' },
    },
  });
  const probes = Number(values.probes);
  const clients = Number(values.clients);
  const perBatch = Number(values.batch);
  const home = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-rt-'));
  const cluster = await startLocalCluster({
    home,
    workers: 1,
    logLevel: 'warn',
    config: { speedBucketMs: 1000 },
    workerConfig: { workerThreads: 1 },
    readyTimeoutMs: 60_000,
  });
  const { info } = cluster;
  const speed = `${info.speedUrl}/v1/datasets/ticks/records`;
  const auth = { authorization: `Bearer ${info.token}` };
  const post = (body: string) =>
    fetch(speed, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      body,
    });
  try {
    // Some history first, then the registration (its first recomputation reads the history).
    const bodies = tickBatches(64, perBatch, 7).map((b) => b.toString());
    for (const b of bodies.slice(0, 8))
      if ((await post(b)).status !== 200) throw new Error('ingest of the history failed');
    const api = new CoordinatorClient({ url: info.coordinatorUrl!, token: info.token });
    const { bundle, spec: staticSpec } = await bundleJob(JOB);
    const store = await openStore(info.store);
    await uploadBundle(store, bundle);
    await store.close();
    const { job } = await api.registerRealtime(jobSpecOf(staticSpec, bundle.sha256), null);
    const first = await api.waitFor(job.id);
    if (first.state !== 'succeeded')
      throw new Error(`the first recomputation ${first.state}: ${first.error?.message}`);
    for (let i = 0; i < 100; i++) {
      const v = await fetch(`${info.serveUrl}/v1/views/${VIEW}`);
      if (v.ok && ((await v.json()) as { version: string }).version === first.version) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    // Background ingest all along.
    let stop = false;
    let background = 0;
    const t0 = performance.now();
    const loops = Array.from({ length: clients }, async (_, c) => {
      for (let i = c; !stop; i += clients) {
        const res = await post(bodies[8 + (i % (bodies.length - 8))]!);
        if (res.status === 200) background += perBatch;
      }
    });

    // The live stream, read as it arrives.
    const sseSeen = new Map<string, number>();
    const stopLive = new AbortController();
    const reading = (async () => {
      for await (const e of new ViewServerClient(info.serveUrl!).changes(VIEW, stopLive.signal)) {
        if (e.event !== 'keys') continue;
        const now = performance.now();
        for (const k of e.data.keys ?? [])
          if (String(k[0]).startsWith('PROBE')) sseSeen.set(JSON.stringify(k), now);
      }
    })().catch(() => {});

    const visible: number[] = [];
    const viaSse: number[] = [];
    const floor: number[] = [];
    const minute = '2026-11-22T12:00';
    const baseKey = encodeURIComponent(JSON.stringify(['PROBE-BASE', minute]));
    await post(
      `${JSON.stringify({ time: Date.parse(`${minute}:00Z`), symbol: 'PROBE-BASE', size: 1, price: 1 })}\n`,
    );
    const expected = new Map<string, number>();
    for (let i = 0; i < probes; i++) {
      const symbol = `PROBE${i % 20}`;
      const key = [symbol, minute];
      const size = 1 + (i % 7);
      const want = (expected.get(symbol) ?? 0) + size;
      expected.set(symbol, want);
      const g0 = performance.now();
      await (await fetch(`${info.serveUrl}/v1/views/${VIEW}/get?key=${baseKey}`)).text();
      floor.push(performance.now() - g0);
      // The event is published by the fold, before the acknowledgement: it may arrive first.
      sseSeen.delete(JSON.stringify(key));
      const res = await post(
        `${JSON.stringify({ time: Date.parse(`${minute}:00Z`) + i, symbol, size, price: 1 })}\n`,
      );
      if (res.status !== 200)
        throw new Error(`probe ${i} was not acknowledged: ${res.status} ${await res.text()}`);
      const acked = performance.now();
      for (;;) {
        const got = (await (
          await fetch(
            `${info.serveUrl}/v1/views/${VIEW}/get?key=${encodeURIComponent(JSON.stringify(key))}`,
          )
        ).json()) as { value?: number };
        if ((got.value ?? 0) >= want) break;
        if (performance.now() - acked > 10_000)
          throw new Error(`probe ${i} not visible 10 s after its acknowledgement`);
      }
      visible.push(performance.now() - acked);
      for (let w = 0; w < 200 && !sseSeen.has(JSON.stringify(key)); w++)
        await new Promise((r) => setTimeout(r, 1));
      const seen = sseSeen.get(JSON.stringify(key));
      if (seen !== undefined) viaSse.push(Math.max(0, seen - acked));
      await new Promise((r) => setTimeout(r, 50));
    }
    stop = true;
    await Promise.all(loops);
    const seconds = (performance.now() - t0) / 1000;
    stopLive.abort();
    await reading;

    say(
      `background ingest: ${Math.round(background / seconds).toLocaleString('en-US')} records/s acknowledged (${clients} clients × ${perBatch}-record batches)`,
    );
    say(
      `ack → visible by GET   : p50 ${ms(pct(visible, 50))}  p99 ${ms(pct(visible, 99))}  max ${ms(Math.max(...visible))}  (${visible.length} probes; target p99 ≤ 100 ms)`,
    );
    say(
      `ack → SSE keys event   : p50 ${ms(pct(viaSse, 50))}  p99 ${ms(pct(viaSse, 99))}  (${viaSse.length} of ${probes} probes seen within 200 ms; 0 = the event came before the acknowledgement)`,
    );
    say(
      `baseline GET round trip: p50 ${ms(pct(floor, 50))}  p99 ${ms(pct(floor, 99))}  → visible/GET p50 ratio ${(pct(visible, 50) / pct(floor, 50)).toFixed(2)}×`,
    );
  } finally {
    await cluster.stop();
    await rm(home, { recursive: true, force: true });
  }
}
