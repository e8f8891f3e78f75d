/**
 * jobs/ is what users' code imports, in worker threads and in type checks: it may depend only on
 * itself, core/errors.ts and core/keys/*, and (followed transitively) on nothing else at all.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every module specifier a source file names: static imports/exports, import(), require(). */
function importSpecifiers(source: string): string[] {
  // TypeScript's own pre-processor reads imports as the compiler does (not inside strings or
  // comments).
  const found = ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
  // A dynamic import or require of a computed name cannot be checked, so it is not allowed.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  if (/\bimport\s*\(\s*[^'"`\s)]/.test(code) || /\brequire\s*\(\s*[^'"`\s)]/.test(code))
    found.push('<computed import>');
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : /\.(ts|mts|js|mjs)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
}

function allowed(file: string): boolean {
  const rel = relative(root, file).split('\\').join('/');
  return rel.startsWith('jobs/') || rel === 'core/errors.ts' || /^core\/keys\/[^/]+\.ts$/.test(rel);
}

/** Follows imports from `start`; returns every problem found (file → bad specifier). */
function closureProblems(start: string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) {
        problems.push(`${relative(root, file)} imports ${spec}`);
        continue;
      }
      const target = resolve(dirname(file), spec);
      if (!allowed(target))
        problems.push(`${relative(root, file)} imports ${relative(root, target)}`);
      else queue.push(target);
    }
  }
  return problems;
}

describe('jobs/ stays pure', () => {
  it('imports nothing but jobs/, core/errors.ts and core/keys/*, transitively', () => {
    const files = sourceFiles(join(root, 'jobs'));
    expect(files.length).toBeGreaterThan(5);
    expect(closureProblems(files)).toEqual([]);
  });

  it('the scanner sees every form of import, so the check above can fail', () => {
    const source = [
      `import { Queue } from 'bullmq';`,
      `import type { Redis } from "ioredis";`,
      `import * as fs from 'node:fs';`,
      `import './side-effect.ts';`,
      `export { x } from '../core/log.ts';`,
      `export * from './y.ts';`,
      `const grpc = await import('@grpc/grpc-js');`,
      `const p = require('piscina');`,
      `const m = await import(name);`,
      `// import { ignored } from 'commented-out';`,
      "const text = `import { fake } from 'inside-a-string'`;",
      `import {`,
      `  a,`,
      `  b,`,
      `} from './multi-line.ts';`,
    ].join('\n');
    expect(importSpecifiers(source).sort()).toEqual(
      [
        'bullmq',
        'ioredis',
        'node:fs',
        './side-effect.ts',
        '../core/log.ts',
        './y.ts',
        './multi-line.ts',
        '@grpc/grpc-js',
        'piscina',
        '<computed import>',
      ].sort(),
    );
  });
});
