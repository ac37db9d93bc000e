import type { RelayConfig, UnsubscribeConfig } from '../config/schema.ts';
import { readSecretFile } from '../config/load-config.ts';
import { RelayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReputationService } from '../reputation/reputation-service.ts';
import type { MessageMeta } from '../spool/types.ts';
import { buildUnsubscribeHeaders, decideUnsubscribeScope } from './unsubscribe-headers.ts';
import { UnsubscribeIntake } from './unsubscribe-intake.ts';
import { UnsubscribeServer } from './unsubscribe-server.ts';
import type { UnsubscribeScope } from './unsubscribe-token.ts';

/** Told of every unsubscribe once it is durable (the `unsubscribed` event); the answer waits for it. */
export type UnsubscribeListener = (scope: UnsubscribeScope, via: 'https' | 'mailto') => Promise<void>;

/**
 * One-click unsubscribe (RFC 8058) as a whole: the headers bulk mail gets at delivery, the
 * public listener taking the POSTs, and the mailto intake, all with one key and one effect
 * (a suppression of that recipient for that category or domain).
 */
export class OneClickUnsubscribe {
  /** The mailto intake, joined to the SMTP ingress's feedback intake; absent without `unsubscribe.mailto`. */
  readonly intake: UnsubscribeIntake | undefined;
  private readonly listeners: UnsubscribeListener[] = [];
  private server: UnsubscribeServer | undefined;

  private constructor(
    private readonly config: UnsubscribeConfig,
    private readonly key: Buffer,
    private readonly domains: () => RelayConfig['domains'],
    private readonly reputation: ReputationService,
    private readonly logger: Logger,
  ) {
    this.intake = config.mailto
      ? new UnsubscribeIntake({ address: config.mailto, key, knows: (s) => this.knows(s), unsubscribe: (s, via) => this.unsubscribe(s, via), logger })
      : undefined;
  }

  static create(config: RelayConfig, domains: () => RelayConfig['domains'], reputation: ReputationService, logger: Logger): OneClickUnsubscribe | undefined {
    if (!config.unsubscribe) return undefined;
    const key = Buffer.from(readSecretFile(config.unsubscribe.keyFile).trim());
    if (key.length < 16) throw new RelayError('ERELAY_CONFIG_INVALID', `${config.unsubscribe.keyFile}: unsubscribe.keyFile must hold a key of at least 16 characters`);
    return new OneClickUnsubscribe(config.unsubscribe, key, domains, reputation, logger);
  }

  async listen(): Promise<number> {
    this.server = await UnsubscribeServer.start({
      address: this.config.address,
      port: this.config.port,
      key: this.key,
      knows: (s) => this.knows(s),
      unsubscribe: (s, via) => this.unsubscribe(s, via),
      logger: this.logger,
    });
    return this.server.port;
  }

  onUnsubscribe(listener: UnsubscribeListener): void {
    this.listeners.push(listener);
  }

  /** The header lines for one recipient of a message, or undefined when its mail is not bulk. */
  headersFor(meta: MessageMeta, recipient: string): string | undefined {
    if (!meta.sendingDomain) return undefined;
    const domain = this.domains().find((d) => d.name === meta.sendingDomain);
    const scope = decideUnsubscribeScope(domain, meta.category);
    return scope ? buildUnsubscribeHeaders(this.key, { url: this.config.url, ...(this.config.mailto ? { mailto: this.config.mailto } : {}) }, { ...scope, recipient }) : undefined;
  }

  private knows(scope: UnsubscribeScope): boolean {
    return this.domains().some((d) => d.name === scope.domain);
  }

  private async unsubscribe(scope: UnsubscribeScope, via: 'https' | 'mailto'): Promise<void> {
    await this.reputation.unsubscribe(scope.domain, scope.category, scope.recipient, via);
    for (const listener of this.listeners) await listener(scope, via);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
