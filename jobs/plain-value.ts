/**
 * Whether a value can cross a thread, msgpack and Redis unchanged: the rule for what map emits,
 * what reduce returns and what an aggregator keeps.
 *
 *   plainValueProblem({ n: 1, at: new Date() })  // undefined: fine
 *   plainValueProblem({ f() {} })                // "value.f is a function"
 *
 * Plain: null, undefined, booleans, numbers, strings, Uint8Array, Date, arrays and objects whose
 * prototype is Object.prototype or null, nested without cycles.
 */

const MAX_DEPTH = 64;

/** A description of the first thing that is not plain data, or undefined when all is plain. */
export function plainValueProblem(value: unknown, path = 'value'): string | undefined {
  return check(value, path, new Set<object>(), 0);
}

function check(value: unknown, path: string, seen: Set<object>, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
    case 'bigint':
      return `${path} is a BigInt (use a number, or a string for values beyond 2^53)`;
  }
  if (value === null || value instanceof Uint8Array || value instanceof Date) return undefined;
  const obj = value as object;
  if (depth >= MAX_DEPTH) return `${path} is nested more than ${MAX_DEPTH} levels deep`;
  if (seen.has(obj)) return `${path} refers back to itself (a cycle)`;
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        const problem = check(obj[i], `${path}[${i}]`, seen, depth + 1);
        if (problem) return problem;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      return `${path} is a ${name} instance (use plain objects and arrays)`;
    }
    for (const [key, v] of Object.entries(obj)) {
      const problem = check(v, `${path}.${key}`, seen, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    seen.delete(obj);
  }
}
