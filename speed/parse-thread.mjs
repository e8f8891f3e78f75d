// The entry module of the speed layer's parse threads (piscina `filename`). Node 20 does not
// apply `--import tsx` from a Worker's execArgv, so the thread registers tsx itself before it
// loads the TypeScript handlers (parse-handlers.ts).
import { register } from 'tsx/esm/api';

register();
const handlers = await import('./parse-handlers.ts');

export const { parse, ping } = handlers;
