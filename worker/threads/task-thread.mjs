// The entry module of a worker's task threads (piscina `filename`). Node 20 does not apply
// `--import tsx` from a Worker's execArgv, so the thread registers tsx itself before it loads
// the TypeScript handlers. Handlers: task-handlers.ts.
import { register } from 'tsx/esm/api';

register();
const handlers = await import('./task-handlers.ts');

export const { map, reduce, call, ping } = handlers;
