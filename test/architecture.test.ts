/**
 * The folder layout is the architecture (STYLE.md habit 2): these checks keep it so.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  const abs = path.join(root, dir);
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) return sourceFiles(rel);
    return /\.(ts|mts|mjs)$/.test(name) ? [rel] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"`;]*?from\s+['"]([^'"]+)['"]/g),
    ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ];
  return specs.map((m) => m[1]!);
}

/** Resolves a relative import to a repo-relative path; bare specifiers stay as they are. */
function target(file: string, spec: string): string {
  return spec.startsWith('.')
    ? path.relative(root, path.resolve(root, path.dirname(file), spec))
    : spec;
}

describe('architecture', () => {
  it('coordinator/ and worker/ never import each other', () => {
    for (const [from, forbidden] of [
      ['coordinator', 'worker/'],
      ['worker', 'coordinator/'],
    ] as const) {
      for (const file of sourceFiles(from)) {
        for (const spec of importsOf(file))
          expect(target(file, spec), `${file} imports ${spec}`).not.toMatch(
            new RegExp(`^${forbidden}`),
          );
      }
    }
  });

  it('only core/config.ts reads Strata settings (STRATA_*) from the environment', () => {
    const offenders = ['core', 'jobs', 'cli', 'coordinator', 'worker', 'serving', 'speed']
      .flatMap(sourceFiles)
      // cli/compiled-cli.mjs decides whether the CLI runs compiled before any TypeScript (config.ts
      // included) can load; the two settings it reads are declared in config.ts all the same.
      .filter(
        (f) =>
          f !== 'core/config.ts' &&
          f !== 'cli/compiled-cli.mjs' &&
          /process\.env(\.STRATA_|\[)|\benv\.STRATA_/.test(
            readFileSync(path.join(root, f), 'utf8'),
          ),
      );
    expect(offenders).toEqual([]);
    const launcher = readFileSync(path.join(root, 'cli/compiled-cli.mjs'), 'utf8');
    const declared = readFileSync(path.join(root, 'core/config.ts'), 'utf8');
    for (const name of launcher.match(/STRATA_[A-Z_]+/g) ?? [])
      expect(declared, `${name} is read by cli/compiled-cli.mjs`).toContain(`'${name}'`);
  });
});
