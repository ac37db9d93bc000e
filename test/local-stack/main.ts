/**
 * `npm start`: the whole product on this machine as pods on a local Kubernetes node (root,
 * containerd, runc, CNI plugins, buildah). See LocalStack. Ctrl-C stops everything it started
 * and puts the host back as it was.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/wait-for.ts';
import { EXAMPLE, LocalStack, localStackUnsupportedReason, OPERATOR_NAMESPACE } from './local-stack.ts';

const dataDir = fileURLToPath(new URL('../../.data/local-stack/', import.meta.url));
const say = (line: string) => process.stdout.write(`[local-stack] ${line}\n`);

const unsupported = localStackUnsupportedReason();
if (unsupported) {
  process.stderr.write(`[local-stack] ${unsupported}\n`);
  process.exit(1);
}

// Handlers before anything starts: a Ctrl-C during start-up must still stop the node.
let stack: LocalStack | undefined = undefined;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say('stopping');
  await stack?.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

stack = await LocalStack.start({
  dataDir,
  log: say,
  onMail: (m) => say(`mail for ${m.to.join(', ')} from ${m.from || '<>'}: DKIM ${m.dkim.join(', ') || 'none'} -> ${m.file}`),
});

await waitFor('the relay pod', () => stack?.pod() !== undefined && stack.operatorMetricsPort() !== undefined, 180_000);
const pod = stack.pod()!;
const p = (name: string) => pod.ports.get(name);
const c = stack.credentials;
const kubectl = stack.cp.binaries.kubectl;
say(`ready.
  kubeconfig:   export KUBECONFIG=${stack.cp.kubeconfigPath}
                kubectl: ${kubectl}   (try: kubectl get mr,sd,pods -A)
  image:        ${stack.image} (the Dockerfile, built with buildah; \`npm run image\` rebuilds and imports it)
  resources:    ${EXAMPLE} (namespace ${stack.namespace}); edit and kubectl apply to see the relay roll
  SMTP:         127.0.0.1:${p('submission')} STARTTLS + AUTH, 127.0.0.1:${p('smtps')} implicit TLS + AUTH,
                127.0.0.1:${p('smtp')} plain (no AUTH, this machine is trusted)
                user ${c.username} / password ${c.password}   CA: ${c.caFile}
  HTTP API:     http://127.0.0.1:${p('http')}/v1/messages   token ${c.token}
  metrics:      relay http://127.0.0.1:${p('metrics')}/metrics   operator http://127.0.0.1:${stack.operatorMetricsPort()}/metrics
                (kubectl port-forward to pod ${pod.name}, re-established when the pod restarts)
  mail lands:   ${join(dataDir, 'mail')}/<recipient domain>/*.eml (every MX of the internet is the local sink)
  logs:         kubectl logs -n ${stack.namespace} ${pod.name}; kubectl logs -n ${OPERATOR_NAMESPACE} deploy/mail-relay-operator

Send a test message:
  curl -s http://127.0.0.1:${p('http')}/v1/messages -H 'Authorization: Bearer ${c.token}' -H 'Content-Type: application/json' \\
    -d '{"from":"app@example.com","to":["someone@example.net"],"subject":"hello","text":"hi from the local stack"}'

Ctrl-C stops everything.`);
