/**
 * The command line: `strata <command> …`. Each command lives in cli/commands/<name>.ts and
 * exports `register(program)`; cli/commands/index.ts lists them, loaded lazily. Errors are printed
 * once, plainly, with their code, and turn
 * into a non-zero exit; a stack trace is shown only with STRATA_LOG_LEVEL=debug.
 */
import { Command, CommanderError } from 'commander';
import { wantsStackTraces } from '../core/config.ts';
import { isStrataError, StrataError } from '../core/errors.ts';
import { commands } from './commands/index.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('strata')
    .description('Strata: a self-hosted Lambda-architecture data platform')
    .exitOverride()
    // each command parses its own options (and `views` hands later ones to history/rollback)
    .enablePositionalOptions()
    .showHelpAfterError('(run strata --help for the commands)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // Load just the command being run; anything else (help, a typo) needs them all to answer.
  const first = argv.find((a) => !a.startsWith('-'));
  const wanted = commands.filter((c) => c.name === first);
  for (const entry of wanted.length === 1 ? wanted : commands)
    (await entry.load()).register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message; help and version are not failures.
    return err.exitCode === 0 ||
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version'
      ? 0
      : 2;
  }
  if (isStrataError(err)) {
    process.stderr.write(`strata: ${err.message} [${err.code}]\n`);
    if (wantsStackTraces() && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.code === 'STRATA_E_USAGE' ? 2 : 1;
  }
  const wrapped = new StrataError(
    'STRATA_E_INTERNAL',
    err instanceof Error ? err.message : String(err),
    { cause: err },
  );
  process.stderr.write(
    `strata: unexpected error: ${wrapped.message} [${wrapped.code}]\n${err instanceof Error ? err.stack : ''}\n`,
  );
  return 1;
}
