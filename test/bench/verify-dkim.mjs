// node test/bench/verify-dkim.mjs RECORDS.json FILE... — verifies the DKIM signatures of messages
// dumped by smtp-sink -d with mailauth (an independent verifier), against the DNS TXT records
// given as {"selector._domainkey.domain": "v=DKIM1; k=...; p=..."} (no DNS on this machine).
// Prints one line per file; exit 1 unless every file carries at least one passing signature
// from a domain in RECORDS.
import { readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth';

const [recordsFile, ...files] = process.argv.slice(2);
if (!recordsFile || files.length === 0) {
  process.stderr.write('usage: verify-dkim.mjs RECORDS.json FILE...\n');
  process.exit(2);
}
const records = JSON.parse(readFileSync(recordsFile, 'utf8'));
const resolver = async (name, type) => {
  if (type === 'TXT' && records[name]) return [[records[name]]];
  throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
};
let bad = 0;
for (const file of files) {
  // smtp-sink -d puts its own X-* lines (client, helo, envelope) before the message: unsigned, harmless
  const { results } = await dkimVerify(readFileSync(file), { resolver });
  const pass = results.filter((r) => r.status.result === 'pass');
  const line = results.map((r) => `${r.signingDomain ?? '?'} ${r.algo ?? '?'} ${r.status.result}`).join(', ') || 'no signature';
  if (pass.length === 0) bad++;
  process.stdout.write(`${pass.length ? 'ok  ' : 'FAIL'} ${file}: ${line}\n`);
}
process.exit(bad ? 1 : 0);
