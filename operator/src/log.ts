import winston from 'winston';

/** The operator's root logger: JSON lines on stdout; reconciles log through `child({ kind, namespace, name })`. */
export function createLogger(level = 'info', silent = false): winston.Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    defaultMeta: { component: 'operator' },
    transports: [new winston.transports.Console()],
  });
}
