/**
 * `defineJob`: a whole Strata job in one call, checked when the module loads.
 *
 *   import { defineJob, count } from 'strata';
 *   export default defineJob({
 *     name: 'pageviews',
 *     input: { dataset: 'pageviews', from: '2024-06-01' },
 *     map: (r: { url: string }, emit) => emit(r.url, 1),
 *     aggregate: count(),
 *   });
 *
 * Every option is validated here, and all problems are reported at once in one
 * STRATA_E_JOB_DEFINITION whose message names the job, the option, what was given, and shows a
 * correct line, so a mistake surfaces in `strata submit` (or a unit test), never in a worker.
 */
import { StrataError } from '../core/errors.ts';
import { isAggregator } from './aggregators/aggregator.ts';
import { describeValue } from './describe-value.ts';
import { closestName, isValidDate, isValidName, NAME_RULE } from './names.ts';
import type {
  BadRecordsOption,
  JobDefinition,
  JobInput,
  JobSpec,
  ParamValue,
  StaticJobSpec,
} from './types.ts';

export const DEFAULT_PARTITIONS = 8;
export const MAX_PARTITIONS = 4096;

const OPTIONS = [
  'name',
  'input',
  'map',
  'combine',
  'reduce',
  'aggregate',
  'partitions',
  'view',
  'params',
  'badRecords',
] as const;
const INPUT_OPTIONS = ['dataset', 'from', 'to'] as const;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

const EXAMPLES: Record<string, string> = {
  spec: `defineJob({ name: 'pageviews', input: { dataset: 'pageviews' }, map: (record, emit) => emit(record.url, 1), aggregate: count() })`,
  name: `name: 'pageviews'`,
  input: `input: { dataset: 'pageviews', from: '2024-06-01', to: '2024-06-30' }`,
  'input.dataset': `input: { dataset: 'pageviews' }`,
  'input.from': `input: { dataset: 'pageviews', from: '2024-06-01' }`,
  'input.to': `input: { dataset: 'pageviews', to: '2024-06-30' }`,
  map: `map: (record, emit) => emit(record.url, 1)`,
  reduce: `reduce: (key, values) => values.length   or   aggregate: count()`,
  aggregate: `aggregate: count()   (import { count } from 'strata')`,
  combine: `combine: (key, values) => values.reduce((a, b) => a + b, 0)`,
  partitions: `partitions: 16`,
  view: `view: 'pageviews-by-hour'`,
  params: `params: { minViews: 10, country: 'DE' }`,
  badRecords: `badRecords: { max: 100 }   (skip and quarantine up to 100 bad records; default 0: the first one fails the job)`,
};

interface Problem {
  option: string;
  text: string;
}

export function defineJob<R = Record<string, unknown>, V = unknown, Out = unknown>(
  spec: JobSpec<R, V, Out>,
): JobDefinition<R, V, Out> {
  const problems = validate(spec as unknown);
  if (problems.length > 0) throw definitionError(spec, problems);

  const s = spec as JobSpec<R, V, Out>;
  const input: JobInput = Object.freeze({
    dataset: s.input.dataset,
    ...(s.input.from !== undefined ? { from: s.input.from } : {}),
    ...(s.input.to !== undefined ? { to: s.input.to } : {}),
  });
  const params = Object.freeze({ ...(s.params ?? {}) });
  const partitions = s.partitions ?? DEFAULT_PARTITIONS;
  const view = s.view ?? s.name;
  const aggregate = s.aggregate;
  const combine = s.combine;
  const badRecords: Readonly<BadRecordsOption> = Object.freeze({ max: s.badRecords?.max ?? 0 });

  const definition: JobDefinition<R, V, Out> = {
    kind: 'strata.job',
    name: s.name,
    input,
    map: s.map,
    combine,
    reduce: s.reduce,
    aggregate,
    partitions,
    view,
    params,
    badRecords,
    staticSpec(): StaticJobSpec {
      return {
        name: s.name,
        input: { ...input },
        partitions,
        view,
        reduce: aggregate ? `aggregate:${aggregate.name}` : 'reduce',
        ...(aggregate?.options ? { aggregateOptions: { ...aggregate.options } } : {}),
        combine: aggregate !== undefined || combine !== undefined,
        params: { ...params },
        ...(badRecords.max > 0 ? { badRecords: { max: badRecords.max } } : {}),
      };
    },
  };
  return Object.freeze(definition);
}

/** True for what defineJob returned (how the CLI and workers recognise a job module's export). */
export function isJobDefinition(x: unknown): x is JobDefinition<unknown, unknown, unknown> {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as { kind?: unknown }).kind === 'strata.job' &&
    typeof (x as { staticSpec?: unknown }).staticSpec === 'function'
  );
}

function validate(spec: unknown): Problem[] {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    return [
      { option: 'spec', text: `defineJob takes one options object; got ${describeValue(spec)}` },
    ];
  }
  const s = spec as Record<string, unknown>;
  const problems: Problem[] = [];
  const add = (option: string, text: string): void => void problems.push({ option, text });

  for (const key of Object.keys(s)) {
    if ((OPTIONS as readonly string[]).includes(key)) continue;
    const guess = closestName(key, OPTIONS);
    add(
      guess ?? 'spec',
      `unknown option \`${key}\`${guess ? `; did you mean \`${guess}\`?` : `; the options are ${OPTIONS.join(', ')}`}`,
    );
  }

  if (!isValidName(s.name))
    add('name', `\`name\` must be ${NAME_RULE}; got ${describeValue(s.name)}`);

  validateInput(s.input, add);

  if (typeof s.map !== 'function')
    add('map', `\`map\` must be a function (record, emit) => void; got ${describeValue(s.map)}`);

  const hasReduce = s.reduce !== undefined;
  const hasAggregate = s.aggregate !== undefined;
  if (hasReduce === hasAggregate) {
    add(
      'reduce',
      `needs exactly one of \`reduce\` or \`aggregate\`; got ${hasReduce ? 'both' : 'neither'}`,
    );
  }
  if (hasReduce && typeof s.reduce !== 'function')
    add(
      'reduce',
      `\`reduce\` must be a function (key, values) => value; got ${describeValue(s.reduce)}`,
    );
  if (hasAggregate && !isAggregator(s.aggregate)) {
    const text =
      typeof s.aggregate === 'function'
        ? `\`aggregate\` got ${describeValue(s.aggregate)} itself, not an aggregator; call it: aggregate: ${s.aggregate.name || 'count'}()`
        : `\`aggregate\` must be an aggregator such as count(), sum(), distinct() or topK(10); got ${describeValue(s.aggregate)}`;
    add('aggregate', text);
  }
  if (s.combine !== undefined) {
    if (hasAggregate)
      add(
        'combine',
        `\`combine\` is only for \`reduce\` jobs: an aggregator already combines map-side; remove \`combine\``,
      );
    else if (typeof s.combine !== 'function')
      add(
        'combine',
        `\`combine\` must be a function (key, values) => value, returning one value of the kind map emits; got ${describeValue(s.combine)}`,
      );
  }

  if (
    s.partitions !== undefined &&
    !(
      Number.isInteger(s.partitions) &&
      (s.partitions as number) >= 1 &&
      (s.partitions as number) <= MAX_PARTITIONS
    )
  ) {
    add(
      'partitions',
      `\`partitions\` must be an integer from 1 to ${MAX_PARTITIONS} (default ${DEFAULT_PARTITIONS}); got ${describeValue(s.partitions)}`,
    );
  }
  if (s.view !== undefined && !isValidName(s.view))
    add(
      'view',
      `\`view\` must be ${NAME_RULE} (default: the job's name); got ${describeValue(s.view)}`,
    );
  validateParams(s.params, add);
  validateBadRecords(s.badRecords, add);
  return problems;
}

function validateInput(input: unknown, add: (option: string, text: string) => void): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    add(
      'input',
      `\`input\` must be an object { dataset, from?, to? }; got ${describeValue(input)}`,
    );
    return;
  }
  const i = input as Record<string, unknown>;
  for (const key of Object.keys(i)) {
    if ((INPUT_OPTIONS as readonly string[]).includes(key)) continue;
    const guess = closestName(key, INPUT_OPTIONS);
    add(
      'input',
      `unknown option \`input.${key}\`${guess ? `; did you mean \`input.${guess}\`?` : `; \`input\` takes dataset, from and to`}`,
    );
  }
  if (!isValidName(i.dataset))
    add('input.dataset', `\`input.dataset\` must be ${NAME_RULE}; got ${describeValue(i.dataset)}`);
  for (const end of ['from', 'to'] as const) {
    if (i[end] !== undefined && !isValidDate(i[end]))
      add(
        `input.${end}`,
        `\`input.${end}\` must be a date 'YYYY-MM-DD' (inclusive); got ${describeValue(i[end])}`,
      );
  }
  if (isValidDate(i.from) && isValidDate(i.to) && i.from > i.to) {
    add(
      'input.from',
      `\`input.from\` (${i.from}) is after \`input.to\` (${i.to}); the range is inclusive at both ends and must not be empty`,
    );
  }
}

function validateParams(params: unknown, add: (option: string, text: string) => void): void {
  if (params === undefined) return;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    add(
      'params',
      `\`params\` must be an object of defaults for --param k=v; got ${describeValue(params)}`,
    );
    return;
  }
  for (const [key, value] of Object.entries(params)) {
    if (!PARAM_NAME.test(key))
      add(
        'params',
        `param name ${JSON.stringify(key)} must be letters, digits, "_", "." or "-", starting with a letter or "_"`,
      );
    if (!isParamValue(value))
      add(
        'params',
        `param \`${key}\` must be a string, a finite number or a boolean; got ${describeValue(value)}`,
      );
  }
}

function validateBadRecords(budget: unknown, add: (option: string, text: string) => void): void {
  if (budget === undefined) return;
  if (typeof budget !== 'object' || budget === null || Array.isArray(budget)) {
    add('badRecords', `\`badRecords\` must be an object { max }; got ${describeValue(budget)}`);
    return;
  }
  const b = budget as Record<string, unknown>;
  const unknown = Object.keys(b).filter((key) => key !== 'max');
  for (const key of unknown)
    add(
      'badRecords',
      `unknown option \`badRecords.${key}\`${closestName(key, ['max']) ? '; did you mean `badRecords.max`?' : '; `badRecords` takes only `max`'}`,
    );
  // A misspelt max is one mistake, not two.
  if (b.max === undefined && unknown.length > 0) return;
  if (!(Number.isSafeInteger(b.max) && (b.max as number) >= 0)) {
    add(
      'badRecords',
      `\`badRecords.max\` must be a whole number ≥ 0 (how many bad records the job may skip; 0 fails on the first); got ${describeValue(b.max)}`,
    );
  }
}

function isParamValue(v: unknown): v is ParamValue {
  return (
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
  );
}

function definitionError(spec: unknown, problems: Problem[]): StrataError {
  const name =
    typeof spec === 'object' && spec !== null ? (spec as { name?: unknown }).name : undefined;
  const label = typeof name === 'string' && name !== '' ? `defineJob('${name}')` : 'defineJob';
  const lines = problems.map(
    (p) =>
      `${p.text}${/[.?!]$/.test(p.text) ? '' : '.'}\n     Example: ${EXAMPLES[p.option] ?? EXAMPLES.spec}`,
  );
  const message =
    lines.length === 1
      ? `${label}: ${lines[0]}`
      : `${label} has ${lines.length} problems:\n${lines.map((l, n) => `  ${n + 1}. ${l}`).join('\n')}`;
  return new StrataError('STRATA_E_JOB_DEFINITION', message, {
    details: {
      job: typeof name === 'string' ? name : null,
      problems: problems.map((p) => ({ option: p.option, problem: p.text })),
    },
  });
}
