import { pino, type Logger } from 'pino';

export type { Logger };

// Structured JSON logs on stderr; stdout stays free for command output.
export function createLogger(level = process.env.MCSDNS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}

// For tests and libraries that are handed no logger.
export const silentLogger: Logger = pino({ level: 'silent' });
