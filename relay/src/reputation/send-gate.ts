/**
 * What every intake (SMTP and the HTTP API) asks before taking mail for a sending domain.
 * ReputationService answers it; the intakes depend on this interface only.
 */
export interface SendGate {
  /** Why new mail for the domain is refused now (a reputation pause), or undefined. */
  pausedReason(domain: string): string | undefined;
  /** Suppressed for the whole domain or, given a category, for that category (an unsubscribe). */
  isSuppressed(domain: string, recipient: string, category?: string): boolean;
  /**
   * Why new mail of this category of the domain is refused now (the category's own pause), or
   * undefined; `category` is the one submitted, counted as `other` when the domain does not
   * declare it (and when there is none).
   */
  categoryPausedReason(domain: string, category: string | undefined): { readonly category: string; readonly reason: string } | undefined;
}
