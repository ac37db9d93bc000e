import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { RelayError } from '../errors.ts';
import type { ApiTokenEntry, RelayConfig, UserEntry } from './schema.ts';
import { parseConfig } from './parse-config.ts';
import { parseUsers } from './parse-users.ts';
import { parseTokens } from './parse-tokens.ts';

/** The only place the relay reads its configuration files. */

export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RelayError('ERELAY_CONFIG_READ', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new RelayError('ERELAY_CONFIG_INVALID', `${path}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
}

export function loadConfig(path: string): RelayConfig {
  return parseConfig(readYamlFile(path));
}

/** A secret mounted as a file (smarthost password): its content without the trailing newline. */
export function readSecretFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new RelayError('ERELAY_CONFIG_READ', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** The DKIM private keys named by `domains[].dkim.privateKeyFile`, as PEM text. */
export function loadDkimKeyFiles(config: RelayConfig): Array<{ domain: string; selector: string; algorithm: string; pem: string }> {
  return config.domains
    .filter((d) => d.dkim)
    .map((d) => ({ domain: d.name, selector: d.dkim!.selector, algorithm: d.dkim!.algorithm, pem: readSecretFile(d.dkim!.privateKeyFile) }));
}

export function loadUsers(config: RelayConfig): UserEntry[] {
  if (!config.usersFile) return [];
  return parseUsers(readYamlFile(config.usersFile), config.usersFile);
}

/** The VERP HMAC key named by `feedback.verpKeyFile`; a short key would make tags guessable. */
export function loadVerpKeyFile(path: string): Buffer {
  const key = Buffer.from(readSecretFile(path), 'utf8');
  if (key.length < 16) throw new RelayError('ERELAY_CONFIG_INVALID', `${path}: feedback.verpKeyFile must hold at least 16 bytes`);
  return key;
}

/** The HTTP API's tokens (`http.tokensFile`); none when the API is off or has no file. */
export function loadTokens(config: RelayConfig): ApiTokenEntry[] {
  if (!config.http?.tokensFile) return [];
  return parseTokens(readYamlFile(config.http.tokensFile), config.http.tokensFile);
}
