/**
 * Renders docs/errors.md from the error registry (core/errors.ts).
 *   npx tsx scripts/errors-doc.ts > docs/errors.md
 * test/core/errors-doc.test.ts fails when the committed file and the registry disagree.
 */
import { ERROR_CODES } from '../core/errors.ts';

export function renderErrorsDoc(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, e]) => `| \`${code}\` | ${e.retryable ? 'yes' : 'no'} | ${e.doc} |`,
  );
  return [
    '# Error codes',
    '',
    'Every error Strata reports carries one of these codes (shown in brackets after the message,',
    'and as `code` in JSON answers and logs). "Retryable" says whether trying the same thing again',
    'can succeed without changing anything (a server that was down, a lost connection).',
    '',
    'This file is generated from `core/errors.ts` by `npx tsx scripts/errors-doc.ts > docs/errors.md`.',
    '',
    '| code | retryable | meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(renderErrorsDoc());
