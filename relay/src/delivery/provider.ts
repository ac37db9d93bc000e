/**
 * The mailbox provider behind an MX host, for the `provider` metric label: a bounded set, so
 * that per-provider deliverability can be graphed without one series per recipient domain.
 */
export type Provider = 'gmail' | 'microsoft' | 'yahoo' | 'apple' | 'other';

const SUFFIXES: ReadonlyArray<readonly [string, Provider]> = [
  ['google.com', 'gmail'],
  ['googlemail.com', 'gmail'],
  ['protection.outlook.com', 'microsoft'],
  ['outlook.com', 'microsoft'],
  ['hotmail.com', 'microsoft'],
  ['yahoodns.net', 'yahoo'],
  ['yahoo.com', 'yahoo'],
  ['aol.com', 'yahoo'],
  ['icloud.com', 'apple'],
  ['me.com', 'apple'],
  ['mac.com', 'apple'],
];

export function providerOf(mxHost: string | undefined): Provider {
  if (!mxHost) return 'other';
  const host = mxHost.toLowerCase().replace(/\.$/, '');
  for (const [suffix, provider] of SUFFIXES) {
    if (host === suffix || host.endsWith(`.${suffix}`)) return provider;
  }
  return 'other';
}
