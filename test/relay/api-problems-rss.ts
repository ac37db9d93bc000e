/**
 * Memory of the relay process answering 10 parallel requests whose recipient list is ~30 MiB
 * of bad addresses (within the body bound of the default 25 MiB maxMessageSize):
 * `npx tsx test/relay/api-problems-rss.ts`. Prints the size of one answer, and the relay's
 * RSS before, at its peak (VmHWM) and a few seconds after.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;
const TOKEN = 'rss-measurement-token-0123456789';

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

const dir = mkdtempSync(join(tmpdir(), 'mail-relay-rss-'));
writeFileSync(join(dir, 'tokens.yaml'), stringify([{ name: 'app', token: TOKEN, allowedSenderDomains: [] }]));
writeFileSync(join(dir, 'users.yaml'), '[]\n');
writeFileSync(
  join(dir, 'relay.yaml'),
  stringify({
    hostname: 'relay.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none' }],
    usersFile: join(dir, 'users.yaml'),
    domains: [{ name: 'example.com' }],
    queue: { dir: join(dir, 'spool') },
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: 1, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
    http: { address: '127.0.0.1', port: 0, tokensFile: join(dir, 'tokens.yaml') },
  }),
);
const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'relay/src/main.ts'), '--config', join(dir, 'relay.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const httpPort = await new Promise<number>((resolve) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const line = out.split('\n').find((l) => l.includes('"relay started"'));
    if (line) resolve((JSON.parse(line) as { httpPort: number }).httpPort);
  });
});
await new Promise((r) => setTimeout(r, 1000));
const before = memory(child.pid!);

const to: string[] = [];
for (let size = 0; size < 30 * 2 ** 20; size += 20) to.push(`not-an-address-${to.length % 1000}`);
const body = JSON.stringify({ from: 'app@example.com', to, subject: 'x', text: 'x' });
const answers = await Promise.all(
  Array.from({ length: 10 }, async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
  }),
);
const peak = memory(child.pid!).peak;
await new Promise((r) => setTimeout(r, 5000));
const after = memory(child.pid!);
console.log(`request body ${(body.length / 2 ** 20).toFixed(1)} MiB, ${to.length} recipients; answers ${answers.map((a) => a.status).join(',')}, ${(answers[0]!.bytes / 2 ** 20).toFixed(3)} MiB each`);
console.log(`relay RSS before ${before.rss.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, 5 s after ${after.rss.toFixed(0)} MiB`);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
rmSync(dir, { recursive: true, force: true });
