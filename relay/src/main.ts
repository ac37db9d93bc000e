#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { loadConfig, loadDkimKeyFiles, loadTokens, loadUsers, loadVerpKeyFile } from './config/load-config.ts';
import { createDomainSigner } from './dkim/domain-signer.ts';
import { hashPassword } from './config/password.ts';
import { parseDuration } from './config/units.ts';
import { createLogger } from './log.ts';
import { Relay } from './relay.ts';
import { describeError } from './errors.ts';
import { runQueueCommand } from './admin/queue-command.ts';

const HELP = `mail-relay — the mail-relay-operator data plane: SMTP and HTTP in, crash-safe spool, delivery out.

Usage:
  mail-relay --config FILE [--log-level LEVEL] [--shutdown-grace DURATION]
  mail-relay --config FILE --check
  mail-relay hash-password < password.txt
  mail-relay queue list|show|retry|hold|release|delete|bounce ... (--config FILE | --socket PATH)
  mail-relay --help | --version

Options:
  -c, --config FILE          relay.yaml (its keys: docs/relay-config.md in the repository)
      --check                validate the configuration, users file, API tokens file, DKIM and
                             VERP keys, print every problem, exit
      --log-level LEVEL      error | warn | info | debug (default: info, or MAIL_RELAY_LOG_LEVEL)
      --shutdown-grace DUR   on SIGTERM, time for sessions in DATA to finish (default: 25s)
  -h, --help                 this text
  -v, --version              the version

Commands:
  hash-password              read a password from stdin, print the scrypt hash for usersFile
  queue                      the queue of a running relay through its admin socket, like mailq
                             and postsuper (mail-relay queue --help)

Exit status: 0 on success or clean shutdown, 1 on a runtime error, 2 on invalid usage or config.
`;

/** The version from package.json, found from both relay/src (tsx) and dist/relay/src (built). */
function packageVersion(): string {
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

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'queue') {
    return runQueueCommand(argv.slice(1), { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
  }
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        'log-level': { type: 'string' },
        'shutdown-grace': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (positionals[0] === 'hash-password') {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (!password) {
      process.stderr.write('hash-password: no password on stdin\n');
      return 2;
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  }
  if (positionals.length > 0) {
    process.stderr.write(`unknown command: ${positionals[0]}\n\n${HELP}`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n\n${HELP}`);
    return 2;
  }
  const grace = parseDuration(values['shutdown-grace'] ?? '25s');
  if (grace === undefined) {
    process.stderr.write('--shutdown-grace must be a duration such as 25s\n');
    return 2;
  }

  let config, users, tokens;
  try {
    config = loadConfig(values.config);
    users = loadUsers(config);
    tokens = loadTokens(config);
    createDomainSigner(loadDkimKeyFiles(config));
    if (config.feedback.verpKeyFile) loadVerpKeyFile(config.feedback.verpKeyFile);
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n`);
    return 2;
  }
  if (values.check) {
    const api = config.http ? `; http API on port ${config.http.port} with ${tokens.length} tokens` : '';
    process.stdout.write(`${values.config}: ok (${config.listeners.length} listeners, ${users.length} users, ${config.domains.length} domains)${api}\n`);
    return 0;
  }

  const logger = createLogger(values['log-level'] ?? process.env.MAIL_RELAY_LOG_LEVEL ?? 'info');
  let relay: Relay;
  let restart = (): void => undefined;
  try {
    relay = await Relay.start(config, { logger, users, tokens, configPath: values.config, onRestart: () => restart() });
  } catch (err) {
    logger.error('relay failed to start', { error: describeError(err), code: (err as { code?: string }).code });
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('signal received', { signal });
      relay.stop(grace).then(
        () => resolve(0),
        (err: unknown) => {
          logger.error('shutdown failed', { error: describeError(err) });
          resolve(1);
        },
      );
    };
    // a cancelled drain: stopped like on SIGTERM; exit 0 and the container's restart policy starts it again
    restart = () => stop('drain cancelled');
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    // let winston flush before exiting
    setTimeout(() => process.exit(code), 50).unref();
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${describeError(err)}\n`);
    process.exit(1);
  },
);
