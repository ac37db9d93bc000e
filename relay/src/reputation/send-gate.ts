/**
 * What every intake (SMTP and the HTTP API) asks before taking mail for a sending domain.
 * ReputationService answers it; the intakes depend on this interface only.
 */
export interface SendGate {
  /** Why new mail for the domain is refused now (a reputation pause), or undefined. */
  pausedReason(domain: string): string | undefined;
  isSuppressed(domain: string, recipient: string): boolean;
}
