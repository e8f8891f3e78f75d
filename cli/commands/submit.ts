/**
 * `strata submit <job.ts> [--wait | --no-wait] [--param k=v …] [--partitions N] [--json]`
 *
 *   $ strata submit examples/web-analytics/pageviews.ts --wait
 *   map    [████████████████████] 14/14 tasks | 300,000 records | 12.1 MB/s
 *   reduce [████████████████████] 8/8 tasks | 104,611 keys | 1.3 MB/s
 *   published pageviews v1795363521696-jmws12xu811e836 (104,611 keys in 8 parts) by job jmws12xu811e836 in 7.2 s
 *
 * Bundles the job file (esbuild), loads it here to check the definition, uploads the bundle to
 * code/<sha256>.mjs and posts the job's spec to the coordinator.
 *
 * Waiting: with --wait the command follows the job (progress on stderr) and exits 0 once the view
 * is published, printing its version; if the job fails it exits 1 with the job's error and code.
 * Without --wait it prints the job id and returns at once (follow it with strata status <id>).
 * The default is to wait when stdout is a terminal and not to wait otherwise, so scripts get
 * the id: `id=$(strata submit job.ts)`. Ctrl-C while waiting stops following, not the job
 * (strata cancel <id> stops it).
 *
 * --param k=v overrides a `params` default of the job; the value takes the type of the default
 * (a number param parses as a number, a boolean one accepts true/false). An unknown name is an
 * error.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { StrataError, type StrataErrorJSON } from '../../core/errors.ts';
import type { JobSpec, ParamValue } from '../../core/tasks/task-payload.ts';
import { readManifest } from '../../core/views/view-layout.ts';
import { MAX_PARTITIONS } from '../../jobs/define-job.ts';
import { closestName } from '../../jobs/names.ts';
import type { StaticJobSpec } from '../../jobs/types.ts';
import { bundleJob, uploadBundle } from '../bundle-job.ts';
import {
  coordinatorOf,
  openTargetStore,
  resolveTarget,
  withTargetOptions,
  type TargetFlags,
} from '../cluster/cluster-target.ts';
import type { JobStatus } from '../coordinator-client.ts';
import { jobProgress } from '../progress.ts';
import { PACKAGE_ROOT } from '../../core/package-root.ts';

const STRATA_ROOT = PACKAGE_ROOT + path.sep;

interface SubmitFlags extends TargetFlags {
  wait?: boolean;
  param: string[];
  partitions?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('submit')
    .description('bundle a job file, upload it and run it on the cluster')
    .argument('<job>', 'the job module (a .ts or .js file whose default export is defineJob(…))')
    .option(
      '--wait',
      'follow the job until it ends and exit non-zero if it fails (default when stdout is a terminal)',
    )
    .option(
      '--no-wait',
      'print the job id and return at once (default when stdout is not a terminal)',
    )
    .option(
      '--param <name=value>',
      "override one of the job's params (repeatable)",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--partitions <n>', "override the job's number of reduce partitions")
    .option('--json', 'print the final job status (or the submitted one, without --wait) as JSON');
  withTargetOptions(cmd).action(async (file: string, flags: SubmitFlags) => {
    const target = await resolveTarget(flags);
    const api = coordinatorOf(target);
    const { bundle, spec: staticSpec } = await bundleJob(file);
    const spec = jobSpecOf(staticSpec, bundle.sha256, {
      params: flags.param,
      partitions: flags.partitions,
    });
    const store = await openTargetStore(target);
    try {
      await uploadBundle(store, bundle);
      const submitted = await api.submit(spec);
      const wait = flags.wait ?? Boolean(process.stdout.isTTY);
      if (!wait) {
        process.stdout.write(flags.json ? `${JSON.stringify(submitted)}\n` : `${submitted.id}\n`);
        return;
      }
      const progress = jobProgress(process.stderr);
      let final: JobStatus;
      try {
        final = await api.waitFor(submitted.id, { onStatus: (s) => progress.update(s) });
      } finally {
        progress.stop();
      }
      if (final.state !== 'succeeded') throw jobError(final);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(final)}\n`);
        return;
      }
      const manifest = final.version
        ? await readManifest(store, spec.view, final.version).catch(() => undefined)
        : undefined;
      const keys = manifest
        ? `${manifest.records.toLocaleString('en-US')} keys in ${manifest.partitions} part${manifest.partitions === 1 ? '' : 's'}`
        : `${spec.partitions} parts`;
      const seconds = ((final.finished ?? Date.now()) - final.submitted) / 1000;
      process.stdout.write(
        `published ${spec.view} ${final.version} (${keys}) by job ${final.id} in ${seconds.toFixed(1)} s\n`,
      );
    } finally {
      await store.close();
    }
  });
}

/** The spec to post: the job's static spec, its code hash, and the command line's overrides. */
export function jobSpecOf(
  staticSpec: StaticJobSpec,
  codeHash: string,
  overrides: { params?: string[]; partitions?: string } = {},
): JobSpec {
  const spec: JobSpec = { ...staticSpec, params: { ...staticSpec.params }, codeHash };
  for (const pair of overrides.params ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new StrataError(
        'STRATA_E_USAGE',
        `--param ${JSON.stringify(pair)} is not name=value; e.g. --param minViews=10`,
      );
    const name = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (!(name in staticSpec.params)) {
      const names = Object.keys(staticSpec.params);
      const guess = closestName(name, names);
      throw new StrataError(
        'STRATA_E_USAGE',
        `job '${staticSpec.name}' has no param "${name}"${guess ? `; did you mean "${guess}"?` : names.length ? `; its params are ${names.join(', ')}` : '; it declares no params (add params: { … } to defineJob)'}`,
        { details: { param: name, params: names } },
      );
    }
    spec.params[name] = coerceParam(staticSpec.name, name, raw, staticSpec.params[name]!);
  }
  if (overrides.partitions !== undefined) {
    const n = Number(overrides.partitions);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
      throw new StrataError(
        'STRATA_E_USAGE',
        `--partitions must be an integer from 1 to ${MAX_PARTITIONS}, got "${overrides.partitions}"`,
      );
    }
    spec.partitions = n;
  }
  return spec;
}

function coerceParam(job: string, name: string, raw: string, current: ParamValue): ParamValue {
  if (typeof current === 'number') {
    const n = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(n))
      throw new StrataError(
        'STRATA_E_USAGE',
        `--param ${name}=${raw}: job '${job}' declares ${name} as a number (default ${current}); give a finite number`,
      );
    return n;
  }
  if (typeof current === 'boolean') {
    if (raw !== 'true' && raw !== 'false')
      throw new StrataError(
        'STRATA_E_USAGE',
        `--param ${name}=${raw}: job '${job}' declares ${name} as a boolean (default ${current}); give true or false`,
      );
    return raw === 'true';
  }
  return raw;
}

/**
 * The job's own error (code and message), named after the job, with the user's stack frames when
 * there are any.
 */
export function jobError(status: JobStatus): StrataError {
  const json: StrataErrorJSON = status.error ?? {
    name: 'StrataError',
    code: status.state === 'cancelled' ? 'STRATA_E_JOB_CANCELLED' : 'STRATA_E_JOB_FAILED',
    message: status.state === 'cancelled' ? 'it was cancelled' : 'the coordinator gave no reason',
    retryable: false,
  };
  const frames = userFrames(json);
  const message = `job ${status.id} (${status.spec.name}) ${status.state === 'cancelled' ? 'was cancelled' : 'failed'}: ${json.message}${frames ? `\n${frames}` : ''}`;
  return StrataError.fromJSON({ ...json, message });
}

/** The stack of the innermost cause (the user's own error), as "    at …" lines. */
function userFrames(json: StrataErrorJSON): string {
  let deepest: StrataErrorJSON['cause'] = json;
  for (let c: StrataErrorJSON['cause'] = json; c; c = 'cause' in c ? c.cause : undefined)
    deepest = c;
  if (!deepest || deepest === json || !deepest.stack) return '';
  const all = deepest.stack.split('\n').filter((l) => /^\s+at /.test(l));
  // The user's frames come first; Strata's own (the worker calling map) and Node's say nothing to
  // them.
  const theirs = all.filter((l) => !l.includes(STRATA_ROOT) && !/\(node:|at node:/.test(l));
  const frames = (theirs.length > 0 ? theirs : all).slice(0, 8);
  return frames.length
    ? `  ${deepest.name}: ${deepest.message}\n${frames.map((l) => `    ${l.trim()}`).join('\n')}`
    : '';
}
