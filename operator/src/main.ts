#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { createLogger } from './log.ts';
import { Operator } from './operator.ts';
import { HELP, OptionsError, parseOperatorOptions, type OperatorOptions } from './options.ts';

const EXIT_USAGE = 2;

/** From package.json, found from both operator/src (tsx) and dist/operator/src (built). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mail-relay-operator' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

let options: OperatorOptions;
try {
  options = parseOperatorOptions(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`mail-relay-operator: ${err instanceof OptionsError ? err.message : (err as Error).message}\nSee --help.\n`);
  process.exit(EXIT_USAGE);
}
if (options.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (options.version) {
  process.stdout.write(`${version()}\n`);
  process.exit(0);
}

const logger = createLogger(options.logLevel);
const operator = new Operator(options, logger, { onLostLeadership: () => process.exit(1) });
let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  logger.info('stopping', { signal });
  operator.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error('stop failed', { error: (err as Error).message });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
operator.start().catch((err: unknown) => {
  logger.error('operator failed to start', { error: (err as Error).message });
  process.exit(1);
});
