/**
 * Validates the JobSpec a client posts (POST /v1/jobs) before anything else looks at it.
 *
 *   const spec = parseJobSpec(body.spec);   // a JobSpec, or STRATA_E_JOB_DEFINITION listing every problem
 *
 * Only shapes are checked here; whether the dataset, the dates and the bundle exist is the
 * planner's business (plan-job.ts), with their own error codes.
 */
import { z } from 'zod';
import { StrataError } from '../core/errors.ts';
import type { JobSpec } from '../core/tasks/task-payload.ts';

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const param = z.union([z.string(), z.number(), z.boolean()]);

const jobSpecSchema = z.object({
  name: z
    .string()
    .regex(NAME, 'a name: lowercase letters, digits, "-" and "_", at most 64 characters'),
  view: z
    .string()
    .regex(NAME, 'a view name: lowercase letters, digits, "-" and "_", at most 64 characters'),
  input: z.strictObject({
    dataset: z.string().min(1),
    from: z.string().optional(),
    to: z.string().optional(),
  }),
  partitions: z.number().int().min(1).max(4096),
  reduce: z
    .string()
    .regex(/^(reduce|aggregate:[A-Za-z0-9_.:-]{1,64})$/, "'reduce' or 'aggregate:<name>'"),
  aggregateOptions: z.record(z.string(), param).optional(),
  combine: z.boolean(),
  params: z.record(z.string(), param).default({}),
  codeHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'the sha256 (64 lowercase hex digits) of the bundle'),
  badRecords: z.strictObject({ max: z.number().int().min(0) }).optional(),
});

export function parseJobSpec(value: unknown): JobSpec {
  const result = jobSpecSchema.safeParse(value);
  if (result.success) return result.data as JobSpec;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`);
  throw new StrataError(
    'STRATA_E_JOB_DEFINITION',
    `the job spec is invalid: ${problems.join('; ')} (submit jobs with \`strata submit <job.ts>\`, which builds the spec from defineJob)`,
    {
      details: { problems },
    },
  );
}
