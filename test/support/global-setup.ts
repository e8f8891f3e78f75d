/**
 * vitest globalSetup: makes sure `redis-server` exists before any test file runs, so `npm test`
 * on a fresh Debian machine (root, apt-get) installs it by itself, once, instead of every file
 * racing to do so. Elsewhere it fails the run at once with the command to install it.
 *
 *   // vitest.config.ts
 *   test: { globalSetup: ['test/support/global-setup.ts'] }
 */
import { ensureRedisServer } from '../../core/redis/ensure-redis-server.ts';

export default async function setup(): Promise<void> {
  await ensureRedisServer();
}
