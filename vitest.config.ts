import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Job modules import the user API as 'strata', exactly as users' own job files do.
    alias: [
      { find: /^strata$/, replacement: fileURLToPath(new URL('./jobs/index.ts', import.meta.url)) },
      {
        find: /^strata\/pool$/,
        replacement: fileURLToPath(new URL('./cli/pool/connect-pool.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'core/**/*.test.ts', 'jobs/**/*.test.ts', 'cli/**/*.test.ts'],
    // Installs redis-server (apt, as root) when missing, once, before any test file runs.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.strata/test-results.json' },
  },
});
