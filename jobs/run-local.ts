/**
 * `runLocal`: runs a job in-process over records in memory, for unit tests of jobs.
 *
 *   import job from './pageviews.ts';
 *   const rows = await runLocal(job, [{ url: '/a', time: '2024-06-01T10:00:00Z' }]);
 *   // [[['/a', '2024-06-01T10'], 1]]  — sorted by key, as the view stores them
 *   localView(rows).get(['/a', '2024-06-01T10']); // 1
 *
 * It follows the cluster's semantics, not a shortcut of them: records are cut into map splits
 * (`splitSize`, default one split), each split groups its output by encoded key and combines it
 * (the job's `combine`, or the aggregator's `add`), aggregator state is encoded and decoded as if
 * it crossed the shuffle, and the reduce side merges the splits and reduces each key in key order.
 * Keys come back decoded from their encoding, exactly as a view holds them. A map, combine, reduce
 * or aggregator that throws surfaces as STRATA_E_JOB_MAP_FAILED / STRATA_E_JOB_REDUCE_FAILED naming
 * the record position or the key, with the original error as `cause`.
 */
import { errorMessage, StrataError } from '../core/errors.ts';
import { compareBytes, decodeKey, encodeKey, formatKey, toKey } from '../core/keys/key-codec.ts';
import type { Key, KeyPart } from '../core/keys/key-codec.ts';
import { decodeAccumulator, encodeAccumulator } from './aggregators/aggregator.ts';
import type { AnyAggregator } from './aggregators/aggregator.ts';
import { describeValue, preview } from './describe-value.ts';
import { plainValueProblem } from './plain-value.ts';
import type { JobContext, JobDefinition, ParamValue } from './types.ts';

export interface RunLocalOptions {
  /** Overrides of the job's `params` defaults, like `--param k=v`. */
  params?: Record<string, ParamValue>;
  /** Records per simulated map split; smaller splits exercise combine and merge. Default: all. */
  splitSize?: number;
}

export type LocalRow<Out> = [Key, Out];

interface Group {
  bytes: Uint8Array;
  key: Key;
  /** Reduce jobs: the values (combined per split when there is a combine). */
  values: unknown[];
  /** Aggregate jobs: the merged accumulator. */
  acc: unknown;
}

export async function runLocal<R, V, Out>(
  job: JobDefinition<R, V, Out>,
  records: Iterable<R> | AsyncIterable<R>,
  options: RunLocalOptions = {},
): Promise<Array<LocalRow<Out>>> {
  const splitSize = options.splitSize ?? Infinity;
  if (!(splitSize === Infinity || (Number.isInteger(splitSize) && splitSize > 0))) {
    throw new StrataError(
      'STRATA_E_USAGE',
      `runLocal: splitSize must be a positive integer; got ${describeValue(options.splitSize)}`,
    );
  }
  const context: JobContext = Object.freeze({
    params: Object.freeze({ ...job.params, ...(options.params ?? {}) }),
  });
  const agg = job.aggregate as AnyAggregator | undefined;
  const groups = new Map<string, Group>();
  let split = new Map<string, Group>();
  let inSplit = 0;
  let position = 0;
  const ours = new WeakSet<object>();

  const emit = (key: KeyPart | Key, value: V): void => {
    let bytes: Uint8Array;
    try {
      bytes = encodeKey(toKey(key));
    } catch (err) {
      throw own(
        new StrataError(
          'STRATA_E_JOB_VALUE',
          `${label(job)}: map emitted an invalid key ${describeValue(key)} for the record at position ${position}: ${(err as Error).message}`,
          { cause: err, details: { job: job.name, position } },
        ),
      );
    }
    const problem = plainValueProblem(value);
    if (problem) {
      throw own(
        new StrataError(
          'STRATA_E_JOB_VALUE',
          `${label(job)}: map emitted a value for key ${formatKey(bytes)} that cannot cross the shuffle: ${problem}. Emit plain data (numbers, strings, arrays, plain objects).`,
          { details: { job: job.name, position } },
        ),
      );
    }
    const id = binaryString(bytes);
    let group = split.get(id);
    if (!group) {
      group = { bytes, key: decodeKey(bytes), values: [], acc: agg ? agg.identity() : undefined };
      split.set(id, group);
    }
    if (!agg) {
      group.values.push(value);
      return;
    }
    const g = group;
    g.acc = guard(
      job,
      g.key,
      `the aggregator ${agg.name}() failed to add the value emitted for the record at position ${position}`,
      () => agg.add(g.acc, value),
      ours,
    );
  };

  const flushSplit = (): void => {
    for (const [id, part] of split) {
      let group = groups.get(id);
      if (!group) {
        group = {
          bytes: part.bytes,
          key: part.key,
          values: [],
          acc: agg ? agg.identity() : undefined,
        };
        groups.set(id, group);
      }
      const g = group;
      if (agg) {
        g.acc = guard(
          job,
          g.key,
          `the aggregator ${agg.name}() failed to merge`,
          () => agg.merge(g.acc, decodeAccumulator(agg, encodeAccumulator(agg, part.acc))),
          ours,
        );
      } else if (job.combine) {
        const combine = job.combine;
        const combined = guard(
          job,
          g.key,
          'combine threw',
          () => combine(g.key, part.values as V[]),
          ours,
        );
        checkOutput(job, g.key, 'combine', combined, ours);
        g.values.push(combined);
      } else {
        for (const v of part.values) g.values.push(v);
      }
    }
    split = new Map();
    inSplit = 0;
  };

  for await (const record of records as AsyncIterable<R>) {
    let returned: unknown;
    try {
      returned = job.map(record, emit, context);
    } catch (err) {
      if (typeof err === 'object' && err !== null && ours.has(err)) throw err;
      throw new StrataError(
        'STRATA_E_JOB_MAP_FAILED',
        `${label(job)}: map threw on the record at position ${position} (counting from 0): ${errorMessage(err)}. The record: ${preview(record)}`,
        {
          cause: err,
          details: { job: job.name, position, record: preview(record) },
        },
      );
    }
    if (typeof (returned as { then?: unknown } | undefined)?.then === 'function') {
      throw new StrataError(
        'STRATA_E_JOB_MAP_FAILED',
        `${label(job)}: map returned a Promise for the record at position ${position}; map must be synchronous (emit inside map, do not await).`,
        {
          details: { job: job.name, position },
        },
      );
    }
    position++;
    if (++inSplit >= splitSize) flushSplit();
  }
  flushSplit();

  const sorted = [...groups.values()].sort((a, b) => compareBytes(a.bytes, b.bytes));
  const rows: Array<LocalRow<Out>> = [];
  for (const g of sorted) {
    let out: Out;
    if (agg) {
      out = guard(
        job,
        g.key,
        `the aggregator ${agg.name}() failed to produce a result`,
        () => agg.result(g.acc) as Out,
        ours,
      );
    } else {
      const reduce = job.reduce!;
      out = guard(job, g.key, 'reduce threw', () => reduce(g.key, g.values as V[]), ours);
      checkOutput(job, g.key, 'reduce', out, ours);
    }
    rows.push([g.key, out]);
  }
  return rows;

  function own(err: StrataError): StrataError {
    ours.add(err);
    return err;
  }
}

/** Read access by key to runLocal's rows: `localView(rows).get(['/a', '2024-06-01T10'])`. */
export interface LocalView<Out> {
  readonly size: number;
  get(key: KeyPart | Key): Out | undefined;
  has(key: KeyPart | Key): boolean;
  /** The rows in key order. */
  entries(): IterableIterator<LocalRow<Out>>;
}

export function localView<Out>(rows: ReadonlyArray<LocalRow<Out>>): LocalView<Out> {
  const byKey = new Map<string, LocalRow<Out>>();
  for (const row of rows) byKey.set(binaryString(encodeKey(row[0])), row);
  return Object.freeze({
    size: byKey.size,
    get: (key: KeyPart | Key) => byKey.get(binaryString(encodeKey(toKey(key))))?.[1],
    has: (key: KeyPart | Key) => byKey.has(binaryString(encodeKey(toKey(key)))),
    entries: () => rows[Symbol.iterator]() as IterableIterator<LocalRow<Out>>,
  });
}

function guard<T>(
  job: { name: string },
  key: Key,
  what: string,
  fn: () => T,
  ours: WeakSet<object>,
): T {
  try {
    return fn();
  } catch (err) {
    if (typeof err === 'object' && err !== null && ours.has(err)) throw err;
    const wrapped = new StrataError(
      'STRATA_E_JOB_REDUCE_FAILED',
      `${label(job)}: ${what} for key ${formatKey(key)}: ${errorMessage(err)}`,
      {
        cause: err,
        details: { job: job.name, key: [...key] },
      },
    );
    ours.add(wrapped);
    throw wrapped;
  }
}

function checkOutput(
  job: { name: string },
  key: Key,
  fn: 'reduce' | 'combine',
  value: unknown,
  ours: WeakSet<object>,
): void {
  const problem =
    value === undefined
      ? 'it is undefined (did the function forget to return?)'
      : plainValueProblem(value);
  if (!problem) return;
  const err = new StrataError(
    'STRATA_E_JOB_VALUE',
    `${label(job)}: ${fn} returned a value for key ${formatKey(key)} that cannot be stored: ${problem}. Return plain data (numbers, strings, arrays, plain objects).`,
    {
      details: { job: job.name, key: [...key] },
    },
  );
  ours.add(err);
  throw err;
}

function label(job: { name: string }): string {
  return `job '${job.name}'`;
}

/** A Map key for encoded bytes: one char per byte, so equal bytes give equal strings. */
function binaryString(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}
