/**
 * vitest globalSetup: makes sure `redis-server` exists before any test file runs, so `npm test`
 * on a fresh Debian machine (root, apt-get) installs it by itself, once, instead of every file
 * racing to do so. Elsewhere it fails the run at once with the command to install it. It also
 * builds the compiled CLI (cli/compiled-cli.mjs) once, before the test files start their
 * `strata` processes, which would otherwise each build it at the same moment.
 *
 *   // vitest.config.ts
 *   test: { globalSetup: ['test/support/global-setup.ts'] }
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { STRATA_BIN } from '../../cli/cluster/service-process.ts';
import { ensureRedisServer } from '../../core/redis/ensure-redis-server.ts';

export default async function setup(): Promise<void> {
  await Promise.all([
    ensureRedisServer(),
    promisify(execFile)(process.execPath, [STRATA_BIN, '--help']),
  ]);
}
