import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { RelayConfig } from './schema.ts';
import { parseConfig } from './parse-config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * Re-reads relay.yaml while the relay runs. Kubernetes updates a mounted ConfigMap by swapping
 * a symlink, so the file is polled. Only settings that can change safely at run time are
 * applied (which sending domains are paused); an invalid file is reported and ignored.
 */
export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly onChange: (config: RelayConfig) => void,
  ) {}

  start(intervalMs: number): void {
    // read now, not later: a change made right after start must count as a change
    try {
      this.lastText = readFileSync(this.path, 'utf8');
    } catch {
      this.lastText = '';
    }
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.logger.warn('config not re-read', { path: this.path, error: describeError(err) });
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      this.onChange(parseConfig(parseYaml(text)));
      this.logger.info('config reloaded', { path: this.path });
    } catch (err) {
      this.logger.error('config change ignored: invalid', { path: this.path, error: describeError(err) });
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
