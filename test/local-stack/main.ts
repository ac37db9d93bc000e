/**
 * `npm start`: the whole product on this machine, no cluster needed. See LocalStack.
 * Ctrl-C stops everything it started.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/wait-for.ts';
import { EXAMPLE, LocalStack } from './local-stack.ts';

const dataDir = fileURLToPath(new URL('../../.data/local-stack/', import.meta.url));
const say = (line: string) => process.stdout.write(`[local-stack] ${line}\n`);

const stack = await LocalStack.start({
  dataDir,
  log: say,
  onMail: (m) => say(`mail for ${m.to.join(', ')} from ${m.from || '<>'}: DKIM ${m.dkim.join(', ') || 'none'} -> ${m.file}`),
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say('stopping');
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

await waitFor('the relay pod', () => stack.pod() !== undefined, 120_000);
const pod = stack.pod()!;
const p = (name: string) => pod.ports.get(name);
const c = stack.credentials;
say(`ready.
  kubeconfig:   export KUBECONFIG=${stack.cp.kubeconfigPath}
                kubectl: ${stack.cp.binaries.kubectl}   (try: kubectl get mr,sd -A)
  resources:    ${EXAMPLE} (namespace ${stack.namespace}); edit and kubectl apply to see the relay roll
  SMTP:         127.0.0.1:${p('submission')} STARTTLS + AUTH, 127.0.0.1:${p('smtps')} implicit TLS + AUTH,
                127.0.0.1:${p('smtp')} plain (no AUTH, this machine is trusted)
                user ${c.username} / password ${c.password}   CA: ${c.caFile}
  HTTP API:     http://127.0.0.1:${p('http')}/v1/messages   token ${c.token}
  metrics:      relay http://127.0.0.1:${p('metrics')}/metrics   operator http://127.0.0.1:${stack.operatorMetricsPort}/metrics
  mail lands:   ${join(dataDir, 'mail')}/<recipient domain>/*.eml (every MX of the internet is the local sink)
  logs:         ${join(dataDir, 'operator.log')}, ${join(pod.dir, 'relay.log')}

Send a test message:
  curl -s http://127.0.0.1:${p('http')}/v1/messages -H 'Authorization: Bearer ${c.token}' -H 'Content-Type: application/json' \\
    -d '{"from":"app@example.com","to":["someone@example.net"],"subject":"hello","text":"hi from the local stack"}'

Ctrl-C stops everything.`);
