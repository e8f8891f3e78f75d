/**
 * Every CLI command, in the order `strata --help` lists them. Each is loaded only when it runs
 * (`strata get …` must not pay for fastify, BullMQ and gRPC at start-up); `--help` loads them all.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export interface CommandEntry {
  name: string;
  load: () => Promise<{ register: RegisterCommand }>;
}

export const commands: CommandEntry[] = [
  { name: 'demo', load: () => import('./demo.ts') },
  { name: 'dev', load: () => import('./dev.ts') },
  { name: 'ingest', load: () => import('./ingest.ts') },
  { name: 'datasets', load: () => import('./datasets.ts') },
  { name: 'submit', load: () => import('./submit.ts') },
  { name: 'jobs', load: () => import('./jobs.ts') },
  { name: 'status', load: () => import('./status.ts') },
  { name: 'cancel', load: () => import('./cancel.ts') },
  { name: 'views', load: () => import('./views.ts') },
  { name: 'batch', load: () => import('./batch.ts') },
  { name: 'get', load: () => import('./get.ts') },
  { name: 'scan', load: () => import('./scan.ts') },
  // the processes of a cluster
  { name: 'coordinator', load: () => import('./coordinator.ts') },
  { name: 'worker', load: () => import('./worker.ts') },
  { name: 'serve', load: () => import('./serve.ts') },
  { name: 'speed', load: () => import('./speed.ts') },
];
