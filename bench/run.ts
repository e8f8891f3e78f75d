/**
 * `npm run bench -- <name> [flags]`: runs one benchmark (or all with no name). Each benchmark
 * prints its figures beside a baseline measured in the same run, as a ratio, because these
 * machines are noisy and absolute numbers alone mislead. Never run from `npm test`.
 */
const benches: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  ingest: () => import('./ingest-bench.ts'),
  batch: () => import('./batch-bench.ts'),
  serve: () => import('./serve-bench.ts'),
  'ingest-http': () => import('./ingest-http-bench.ts'),
  realtime: () => import('./realtime-latency-bench.ts'),
};

const [name, ...rest] = process.argv.slice(2);
const names = name ? [name] : Object.keys(benches);
for (const n of names) {
  const load = benches[n];
  if (!load) {
    process.stderr.write(
      `unknown benchmark "${n}"; choose one of: ${Object.keys(benches).join(', ')}\n`,
    );
    process.exit(2);
  }
  process.stdout.write(`\n== bench ${n} ==\n`);
  await (await load()).run(rest);
}
