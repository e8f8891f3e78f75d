/**
 * Where Strata is installed, for the files it ships beside its code: Lua scripts, the shuffle
 * .proto, thread entry modules, the bundled job API, the examples.
 *
 *   const dir = packageUrl('coordinator/state/lua/');   // file:///…/strata/coordinator/state/lua/
 *
 * Not `new URL('./lua/', import.meta.url)`: the CLI runs compiled (cli/compiled-cli.mjs), and
 * there import.meta.url names a chunk under dist/, not the source file's folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function findRoot(from: string): string {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'strata'
    )
      return dir;
    if (path.dirname(dir) === dir)
      throw new Error(`the strata package.json was not found above ${from}`);
  }
}

/** The folder holding Strata's package.json. */
export const PACKAGE_ROOT = findRoot(fileURLToPath(import.meta.url));

/** A file or folder (end it with '/') of the package, as a file: URL. */
export function packageUrl(relative: string): URL {
  return new URL(relative, pathToFileURL(PACKAGE_ROOT + path.sep));
}

/** A file or folder of the package, as a path. */
export function packagePath(relative: string): string {
  return fileURLToPath(packageUrl(relative));
}

/**
 * True when this code runs from the compiled CLI (dist/<build>/…js), not from the TypeScript
 * sources.
 */
export const RUNS_COMPILED = /\/dist\/[^/]+\/[^/]+\.js$/.test(import.meta.url);

/**
 * The module a thread pool loads: compiled, the build's own entry `<name>.js` beside this chunk
 * (no TypeScript loader in every thread); from source, the `.mjs` shim that registers tsx.
 */
export function threadModule(sourceShim: string, compiledName: string): string {
  return RUNS_COMPILED
    ? new URL(`./${compiledName}.js`, import.meta.url).href
    : packageUrl(sourceShim).href;
}
