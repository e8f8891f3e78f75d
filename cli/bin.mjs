#!/usr/bin/env node
// The `strata` command. Strata ships TypeScript sources and runs them through tsx, so
// `npx strata …` works right after `npm install` with no build step to remember.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
