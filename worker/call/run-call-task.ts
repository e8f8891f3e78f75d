/**
 * A plain task: call one exported function of a bundle with the task's arguments.
 *
 *   const { value, durationMs } = await runCallTask(fn, task);   // fn = exportOf(mod, task.exportName, …)
 *
 * The function may be async. What it returns travels back through the queue (BullMQ stores it as
 * JSON), so it must be JSON data: numbers, strings, booleans, null, arrays and plain objects.
 * Anything else fails the task with STRATA_E_JOB_VALUE naming the offending part, rather than
 * arriving silently changed. What the function throws becomes STRATA_E_CALL_FAILED, with the
 * user's error and stack as `cause`.
 */
import { errorMessage, StrataError } from '../../core/errors.ts';
import type { CallTask } from '../../core/tasks/task-payload.ts';

export interface CallOutcome {
  value: unknown;
  durationMs: number;
}

export async function runCallTask(
  fn: (...args: unknown[]) => unknown,
  task: CallTask,
): Promise<CallOutcome> {
  const started = performance.now();
  const name = `${task.exportName}() of bundle ${task.codeHash.slice(0, 12)}`;
  let value: unknown;
  try {
    value = await fn(...task.args);
  } catch (err) {
    throw new StrataError(
      'STRATA_E_CALL_FAILED',
      `task ${task.taskId}: ${name} threw: ${errorMessage(err)}`,
      {
        cause: err,
        details: {
          jobId: task.jobId,
          taskId: task.taskId,
          exportName: task.exportName,
          codeHash: task.codeHash,
        },
      },
    );
  }
  const problem = jsonProblem(value, 'value', new Set(), 0);
  if (problem) {
    throw new StrataError(
      'STRATA_E_JOB_VALUE',
      `task ${task.taskId}: ${name} returned a value that cannot travel back through the queue: ${problem}. Return JSON data (numbers, strings, booleans, null, arrays, plain objects).`,
      {
        details: { taskId: task.taskId, exportName: task.exportName },
      },
    );
  }
  return {
    value: value === undefined ? null : value,
    durationMs: Math.round(performance.now() - started),
  };
}

/** The first part of `value` that JSON would drop or change, or undefined. */
function jsonProblem(
  value: unknown,
  path: string,
  seen: Set<object>,
  depth: number,
): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value} (JSON has no such number)`;
    case 'undefined':
      return depth === 0 ? undefined : `${path} is undefined`;
    case 'object':
      break;
    default:
      return `${path} is a ${typeof value}`;
  }
  if (value === null) return undefined;
  if (depth >= 64) return `${path} is nested more than 64 levels deep`;
  if (seen.has(value)) return `${path} refers back to itself (a cycle)`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
    return `${path} is a ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain'} object (use plain objects and arrays; send bytes as base64)`;
  }
  seen.add(value);
  try {
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [`[${i}]`, v])
      : Object.entries(value).map(([k, v]) => [`.${k}`, v]);
    for (const [k, v] of entries) {
      const problem = jsonProblem(v, `${path}${k}`, seen, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}
