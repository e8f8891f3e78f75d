/**
 * Structured JSON logs on stderr (stdout belongs to command output).
 *
 *   const log = createLogger(config).child({ component: 'ingest', dataset });
 *   log.info({ records }, 'segment committed');
 */
import { pino, type Logger } from 'pino';
import type { StrataConfig } from './config.ts';

export type { Logger };

export function createLogger(
  config: Pick<StrataConfig, 'logLevel'>,
  bindings: Record<string, unknown> = {},
): Logger {
  return pino(
    { level: config.logLevel, base: { pid: process.pid, ...bindings } },
    pino.destination({ fd: 2, sync: true }),
  );
}
