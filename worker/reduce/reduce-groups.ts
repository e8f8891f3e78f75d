/**
 * The reduce step proper: each key's shuffle values (in merge order) to the value the view
 * stores, exactly as runLocal computes it.
 *
 *   const groups = groupByKey(kWayMerge(sources, compareEntries));
 *   for await (const [key, value] of reduceGroups(job, groups)) await writer.add(key, value);
 *
 * aggregate: acc = identity(); acc = merge(acc, decode(v)) for each map output's accumulator,
 *            in map-output order; the view value is result(acc), or encode(acc) for the batch
 *            run of a realtime view (`accumulators`), which servers merge with realtime buckets.
 * reduce:    the map outputs' value lists concatenated in order (combined lists when the job has
 *            a combine), then reduce(key, values). Keys are handed to user code decoded.
 */
import { decodeKey } from '../../core/keys/key-codec.ts';
import { decodeAccumulator, encodeAccumulator } from '../../jobs/aggregators/aggregator.ts';
import type { JobDefinition } from '../../jobs/types.ts';
import type { KeyGroup } from '../group-by-key.ts';
import { JobErrors } from '../job-errors.ts';
import { unpackValue } from '../shuffle-value.ts';

export async function* reduceGroups(
  job: JobDefinition<unknown, unknown, unknown>,
  groups: AsyncIterable<KeyGroup[]>,
  opts: { accumulators?: boolean } = {},
): AsyncGenerator<[Uint8Array, unknown]> {
  const accumulators = opts.accumulators === true;
  const errors = new JobErrors(job);
  const agg = job.aggregate;
  const reduce = job.reduce;
  for await (const batch of groups) {
    for (const { key, values } of batch) {
      let out: unknown;
      // try/catch rather than guard(): no closures per key on this path.
      if (agg) {
        let acc: unknown;
        try {
          acc = agg.identity();
          for (const v of values) acc = agg.merge(acc, decodeAccumulator(agg, unpackValue(v)));
        } catch (err) {
          throw errors.wrap(err, key, `the aggregator ${agg.name}() failed to merge`);
        }
        try {
          out = accumulators ? encodeAccumulator(agg, acc) : agg.result(acc);
        } catch (err) {
          throw errors.wrap(err, key, `the aggregator ${agg.name}() failed to produce a result`);
        }
      } else {
        const all: unknown[] = [];
        for (const v of values) for (const x of unpackValue(v) as unknown[]) all.push(x);
        try {
          out = reduce!(decodeKey(key), all);
        } catch (err) {
          throw errors.wrap(err, key, 'reduce threw');
        }
        errors.checkOutput(key, 'reduce', out);
      }
      yield [key, out];
    }
  }
}
