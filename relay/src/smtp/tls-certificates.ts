import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { TlsConfig } from '../config/schema.ts';
import { RelayError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface CertificatePair {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly minVersion: TlsConfig['minVersion'];
  readonly ciphers: string;
}

/**
 * The listeners' certificate and key. Kubernetes (and cert-manager) replace mounted Secret
 * files by swapping a symlink, which inotify-based watches miss, so the files are polled; a new
 * pair is applied only once both files changed into something that loads, so a half-written
 * renewal never takes TLS down. Sessions in progress keep the context they started with.
 */
export class TlsCertificates {
  private fingerprint = '';
  private timer: NodeJS.Timeout | undefined;
  current: CertificatePair;

  constructor(
    private readonly config: TlsConfig,
    private readonly logger: Logger,
  ) {
    try {
      const pair = { key: readFileSync(config.keyFile), cert: readFileSync(config.certFile), minVersion: config.minVersion, ciphers: config.ciphers };
      createSecureContext(pair);
      this.current = pair;
      this.fingerprint = digest(pair);
    } catch (err) {
      throw new RelayError('ERELAY_TLS_LOAD', `cannot load TLS certificate ${config.certFile} / key ${config.keyFile}: ${describeError(err)}`, {
        cause: err,
      });
    }
  }

  watch(onChange: (pair: CertificatePair) => void, intervalMs = 5000): void {
    this.timer = setInterval(() => void this.poll(onChange), intervalMs);
    this.timer.unref();
  }

  private async poll(onChange: (pair: CertificatePair) => void): Promise<void> {
    try {
      const [key, cert] = await Promise.all([readFile(this.config.keyFile), readFile(this.config.certFile)]);
      const pair = { key, cert, minVersion: this.config.minVersion, ciphers: this.config.ciphers };
      const fp = digest(pair);
      if (fp === this.fingerprint) return;
      createSecureContext(pair);
      this.fingerprint = fp;
      this.current = pair;
      onChange(pair);
      this.logger.info('TLS certificate reloaded', { certFile: this.config.certFile });
    } catch (err) {
      this.logger.warn('TLS certificate not reloaded', { certFile: this.config.certFile, error: describeError(err) });
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function digest(pair: { key: Buffer; cert: Buffer }): string {
  return createHash('sha256').update(pair.key).update(pair.cert).digest('hex');
}
