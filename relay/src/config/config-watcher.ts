import { readFile, stat } from 'node:fs/promises';
import { Stats, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { RelayConfig } from './schema.ts';
import { parseConfig } from './parse-config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface ConfigWatcherOptions {
  /**
   * Everything else a start-up with this config reads (users, tokens, DKIM and VERP keys,
   * smarthost password): throws when one is missing or invalid.
   */
  readonly check: (config: RelayConfig) => void;
  /** A valid config: apply what may change at run time. */
  readonly onChange: (config: RelayConfig) => void;
  /** Every reload, with its outcome (metrics). */
  readonly onReload?: (ok: boolean) => void;
}

/**
 * Re-reads relay.yaml, and notices changes to the files it names, while the relay runs.
 * Kubernetes updates a mounted ConfigMap or Secret by swapping a symlink, so files are polled.
 * A change is checked as a start-up would check it; when that fails the relay keeps serving
 * its last good config, logs every problem and counts the failure, since a restart with these
 * files would exit at start-up. Only settings that can change safely at run time are applied
 * (which sending domains are paused, reputation thresholds, DKIM selectors and keys, so a key
 * rotation needs no restart); the rest takes effect at the next start, and the operator rolls
 * the pods when it changes.
 */
export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';
  private lastFiles = '';
  private referenced: string[] = [];
  private polling = false;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly options: ConfigWatcherOptions,
  ) {}

  /** `current`: the config the relay started with, whose files are the baseline. */
  start(intervalMs: number, current?: RelayConfig): void {
    // read now, not later: a change made right after start must count as a change
    try {
      this.lastText = readFileSync(this.path, 'utf8');
    } catch {
      this.lastText = '';
    }
    if (current) {
      this.referenced = referencedFiles(current);
      this.lastFiles = this.referenced
        .map((p) => {
          try {
            return identity(p, statSync(p));
          } catch (err) {
            return identity(p, err);
          }
        })
        .join('\n');
    }
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.check();
    } finally {
      this.polling = false;
    }
  }

  private async check(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.logger.warn('config not re-read', { path: this.path, error: describeError(err) });
      return;
    }
    const files = await this.fingerprint(this.referenced);
    if (text === this.lastText && files === this.lastFiles) return;
    this.lastText = text;
    this.lastFiles = files;
    let config: RelayConfig | undefined;
    try {
      config = parseConfig(parseYaml(text));
      this.options.check(config);
    } catch (err) {
      // Watch the files the refused config names: one it lacks may be on its way (a Secret and
      // a ConfigMap volume are updated apart), and its arrival must be noticed.
      if (config) await this.watch(config);
      this.options.onReload?.(false);
      this.logger.error('config change ignored: invalid; serving the last good config (a restart would fail)', { path: this.path, error: describeError(err) });
      return;
    }
    await this.watch(config);
    this.options.onChange(config);
    this.options.onReload?.(true);
    this.logger.info('config reloaded', { path: this.path });
  }

  private async watch(config: RelayConfig): Promise<void> {
    const referenced = referencedFiles(config);
    if (referenced.join('\0') !== this.referenced.join('\0')) {
      this.referenced = referenced;
      this.lastFiles = await this.fingerprint(referenced);
    }
  }

  /** Identity of each file: a symlink swap changes the inode, an edit in place the size or mtime. */
  private async fingerprint(paths: readonly string[]): Promise<string> {
    const parts = await Promise.all(paths.map((p) => stat(p).then((s) => identity(p, s), (err: unknown) => identity(p, err))));
    return parts.join('\n');
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function identity(path: string, stats: Stats | unknown): string {
  if (stats instanceof Stats) return `${path}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
  return `${path}:${(stats as NodeJS.ErrnoException).code ?? 'error'}`;
}

/** The files a config names that a start-up reads (TLS files have their own watcher). */
function referencedFiles(config: RelayConfig): string[] {
  const files = [
    config.usersFile,
    config.http?.tokensFile,
    config.feedback.verpKeyFile,
    config.delivery.smarthost?.passwordFile,
    ...config.domains.map((d) => d.dkim?.privateKeyFile),
  ];
  return files.filter((f): f is string => f !== undefined);
}
