#!/usr/bin/env node
// The `strata` command. Strata ships TypeScript sources; the CLI runs from a bundle built from
// them on first use and after every change (compiled-cli.mjs), so `npx strata …` works right after
// `npm install` with no build step to remember.
import { loadMain } from './compiled-cli.mjs';

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
