import winston from 'winston';

/**
 * The relay's root logger: JSON lines on stdout. Sessions and messages log through
 * `logger.child({ sessionId, queueId, ... })`. Never log bodies, passwords, tokens or keys.
 */
export type Logger = winston.Logger;

export function createLogger(level = 'info', silent = false): Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    defaultMeta: { component: 'relay' },
    transports: [new winston.transports.Console()],
  });
}
