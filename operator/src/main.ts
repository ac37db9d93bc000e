#!/usr/bin/env node
/**
 * mail-relay-operator: the control plane. The reconcilers land with the operator issue; until
 * then this entry point says so rather than pretending to run.
 */
const HELP = `mail-relay-operator — reconciles MailRelay and SendingDomain resources (mailrelay.dev/v1alpha1).

Not yet implemented: this build contains the relay (mail-relay) only. The operator's
controllers, CRDs and flags arrive with the operator milestone.

Usage:
  mail-relay-operator --help
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
process.stderr.write('mail-relay-operator: not yet implemented (see --help)\n');
process.exit(1);
