import type { DomainConfig } from '../config/schema.ts';

/**
 * What the HTTP API asks before queueing: is the sending domain paused, is a recipient
 * suppressed. The API depends on this interface only; relay.ts decides what answers it
 * (the configured pause flags today, the reputation tracker and suppression list as well
 * once they exist).
 */
export interface SendGate {
  /** Why mail from this configured sending domain is not taken now, or undefined if it is. */
  pausedReason(domain: string): string | undefined;
  isSuppressed(domain: string, recipient: string): boolean;
}

/** The pause flags of relay.yaml (`domains[].paused`), kept current by the config watcher; no suppression list. */
export class ConfigSendGate implements SendGate {
  private paused: ReadonlySet<string>;

  constructor(domains: readonly DomainConfig[]) {
    this.paused = pausedOf(domains);
  }

  update(domains: readonly DomainConfig[]): void {
    this.paused = pausedOf(domains);
  }

  pausedReason(domain: string): string | undefined {
    return this.paused.has(domain) ? `sending domain ${domain} is paused by configuration` : undefined;
  }

  isSuppressed(): boolean {
    return false;
  }
}

function pausedOf(domains: readonly DomainConfig[]): ReadonlySet<string> {
  return new Set(domains.filter((d) => d.paused).map((d) => d.name));
}
