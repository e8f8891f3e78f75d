/**
 * The view server's Prometheus metrics, on a registry of its own (several servers can live in
 * one test process).
 *
 *   const metrics = new ServeMetrics(cache);
 *   metrics.requests.inc({ route: '/v1/views/:view/get/*', status: '200' });
 *   reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BlockCache } from '../core/viewfile/block-cache.ts';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly loaded: Gauge<'view' | 'version'>;
  readonly swaps: Histogram<'view'>;
  readonly swapFailures: Counter<'view'>;

  constructor(cache: BlockCache) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'strata_serve_requests_total',
      help: 'Requests answered, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'strata_serve_request_duration_seconds',
      help: 'Time to answer a request, by route.',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.loaded = new Gauge({
      name: 'strata_serve_loaded_version',
      help: 'The version each view is served from (1 per view and version).',
      labelNames: ['view', 'version'],
      registers,
    });
    this.swaps = new Histogram({
      name: 'strata_serve_swap_duration_seconds',
      help: 'From noticing a new _CURRENT to serving it (load of every part included), by view.',
      labelNames: ['view'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.swapFailures = new Counter({
      name: 'strata_serve_swap_failures_total',
      help: 'Version loads that failed (the version in service stayed).',
      labelNames: ['view'],
      registers,
    });
    for (const [name, help, field] of [
      ['strata_serve_block_cache_hits', 'Block cache lookups that found the block.', 'hits'],
      [
        'strata_serve_block_cache_misses',
        'Block cache lookups that read the block from the local part file (one pread).',
        'misses',
      ],
      ['strata_serve_block_cache_evictions', 'Blocks evicted from the block cache.', 'evictions'],
      [
        'strata_serve_block_cache_not_admitted',
        'Blocks read for the first time lately: remembered, not kept (a block gets in on its second read).',
        'notAdmitted',
      ],
    ] as const) {
      new Counter({
        name: `${name}_total`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(cache.stats[field]);
        },
      });
    }
    new Gauge({
      name: 'strata_serve_block_cache_max_bytes',
      help: 'The block cache budget (config serveBlockCacheBytes); blocks beyond it are read from the local part files, mostly from the OS page cache.',
      registers,
      collect() {
        this.set(cache.maxBytes);
      },
    });
    new Gauge({
      name: 'strata_serve_block_cache_bytes',
      help: 'Bytes of view file blocks held in the block cache.',
      registers,
      collect() {
        this.set(cache.bytes);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
