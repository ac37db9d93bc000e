import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { hashPassword } from '../../relay/src/config/password.ts';
import { Relay } from '../../relay/src/relay.ts';
import type { ApiTokenEntry, UserEntry } from '../../relay/src/config/schema.ts';
import { loadTokens } from '../../relay/src/config/load-config.ts';
import { testLogger } from './logger.ts';
import { makeCertificates, type TestCertificates } from './certs.ts';
import { tempDir } from './temp-dir.ts';

export interface HarnessOptions {
  /** Raw relay.yaml fields merged over the defaults below (listeners replace the default set). */
  readonly config?: Record<string, unknown>;
  readonly users?: ReadonlyArray<{ username: string; password: string; allowedSenderDomains?: string[] }>;
  readonly dir?: string;
  /** Enables the HTTP API on 127.0.0.1 with these tokens (written to a tokens file, read back as the CLI does). */
  readonly tokens?: readonly ApiTokenEntry[];
}

export interface Harness {
  readonly relay: Relay;
  readonly dir: string;
  readonly certs: TestCertificates;
  port(listener: string): number;
  metricsUrl: string;
  /** `http://127.0.0.1:PORT` of the HTTP API (with `tokens`). */
  apiUrl: string;
  /** relay.yaml as written (the relay re-reads it every 100 ms). */
  configPath: string;
  restart(): Promise<Harness>;
}

/**
 * Starts a real relay in this process on 127.0.0.1 with ephemeral ports and a temp spool.
 * Default listeners: `plain` (tls none, auth none), `submission` (starttls, auth required),
 * `smtps` (implicit TLS, auth optional), `relay` (starttls, auth optional).
 */
export async function startRelay(options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? (await tempDir());
  const certs = makeCertificates(dir);
  const users: UserEntry[] = [];
  for (const u of options.users ?? []) {
    users.push({ username: u.username, passwordHash: await hashPassword(u.password), allowedSenderDomains: u.allowedSenderDomains ?? [] });
  }
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(usersFile, stringify(users));
  const tokensFile = join(dir, 'tokens.yaml');
  if (options.tokens) writeFileSync(tokensFile, stringify(options.tokens));
  const raw = {
    hostname: 'relay.test',
    listeners: [
      { name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none' },
      { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls', auth: 'required' },
      { name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', auth: 'optional' },
      { name: 'relay', address: '127.0.0.1', port: 0, tls: 'starttls', auth: 'optional' },
    ],
    tls: { certFile: certs.certFile, keyFile: certs.keyFile },
    trustedNetworks: [],
    usersFile,
    queue: { dir: join(dir, 'spool') },
    // nothing listens on port 1: delivery attempts are deferred and nothing leaves loopback
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: 1, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
    ...(options.tokens ? { http: { address: '127.0.0.1', port: 0, tokensFile } } : {}),
    ...options.config,
  };
  const config = parseConfig(raw);
  const configPath = join(dir, 'relay.yaml');
  writeFileSync(configPath, stringify(raw));
  const relay = await Relay.start(config, { logger: testLogger, users, tokens: loadTokens(config), tlsPollMs: 100, authDelayMs: 20, configPath, configPollMs: 100 });
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      await relay.stop(100);
    }
  };
  after(stop);
  return {
    relay,
    dir,
    certs,
    port(listener: string) {
      const port = relay.smtpPorts.get(listener);
      if (port === undefined) throw new Error(`no listener ${listener}`);
      return port;
    },
    metricsUrl: `http://127.0.0.1:${relay.metricsPort}/metrics`,
    apiUrl: `http://127.0.0.1:${relay.httpPort ?? 0}`,
    configPath,
    async restart() {
      await stop();
      return startRelay({ ...options, dir });
    },
  };
}
