/**
 * `npm start`: the whole product on this machine as pods on a local Kubernetes node (root,
 * containerd, runc, CNI plugins, buildah). See LocalStack. Ctrl-C stops everything it started
 * and puts the host back as it was.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/wait-for.ts';
import { endpointsFile as endpointsFileIn, EXAMPLE, LocalStack, localStackUnsupportedReason, OPERATOR_NAMESPACE } from './local-stack.ts';
import { alive } from '../control-plane/lock.ts';

const dataDir = fileURLToPath(new URL('../../.data/local-stack/', import.meta.url));
const say = (line: string) => process.stdout.write(`[local-stack] ${line}\n`);
const USAGE = 'usage: npm start [-- --reset]   (--reset: forget the kept cluster, credentials and ports in .data/local-stack/ and start from scratch; delivered mail stays)';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--reset');
if (unknown.length > 0) {
  process.stderr.write(`[local-stack] unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
  process.exit(2);
}
const reset = args.includes('--reset');
say(USAGE);

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
// `kill <npm's pid>` reaches npm only: npm exits and its children (tsx, this process) would run
// on with the node. So the stack also stops when the process that started it is gone: npm runs
// `sh -c tsx ...`, and tsx runs this process, so npm is the third one up.
const starters = ancestors(3);
setInterval(() => {
  if (!stopping && starters.some((pid) => !alive(pid))) {
    say(`the process that started npm start (${starters.join(', ')}) is gone`);
    void stop();
  }
}, 1000).unref();

if (reset) say(`--reset: removing the kept state in ${dataDir} (mail/ stays)`);
stack = await LocalStack.start({
  dataDir,
  reset,
  log: say,
  onMail: (m) => say(`mail for ${m.to.join(', ')} from ${m.from || '<>'}: DKIM ${m.dkim.join(', ') || 'none'} -> ${m.file}`),
});

await waitFor('the relay pod', () => stack?.pod() !== undefined && stack.operatorMetricsPort() !== undefined, 180_000);
const pod = stack.pod()!;
const p = (name: string) => pod.ports.get(name);
const c = stack.credentials;
const kubectl = stack.cp.binaries.kubectl;
// Written down, so a second shell (or a script) can find them without scrolling back; 0600: it holds the password and token.
const endpointsFile = endpointsFileIn(dataDir);
writeFileSync(
  endpointsFile,
  `${JSON.stringify(
    {
      kubeconfig: stack.cp.kubeconfigPath,
      kubectl,
      namespace: stack.namespace,
      pod: pod.name,
      smtp: { submission: `127.0.0.1:${p('submission')}`, smtps: `127.0.0.1:${p('smtps')}`, plain: `127.0.0.1:${p('smtp')}` },
      http: `http://127.0.0.1:${p('http')}`,
      metrics: { relay: `http://127.0.0.1:${p('metrics')}/metrics`, operator: `http://127.0.0.1:${stack.operatorMetricsPort()}/metrics` },
      username: c.username,
      password: c.password,
      token: c.token,
      caFile: c.caFile,
      mail: join(dataDir, 'mail'),
      // read back by the next start, which tries these ports first
      ports: { relay: Object.fromEntries(pod.ports), operator: Object.fromEntries(stack.operatorForward.pod?.ports ?? []) },
    },
    null,
    2,
  )}\n`,
  { mode: 0o600 },
);
chmodSync(endpointsFile, 0o600); // mode applies only when the file is created
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
  all of this:  ${endpointsFile} (JSON, mode 0600; the next start keeps the cluster,
                credentials and these ports when free; \`npm start -- --reset\` starts from scratch)
  mail lands:   ${join(dataDir, 'mail')}/<recipient domain>/*.eml (every MX of the internet is the local sink)
  logs:         kubectl logs -n ${stack.namespace} ${pod.name}; kubectl logs -n ${OPERATOR_NAMESPACE} deploy/mail-relay-operator

Send a test message:
  curl -s http://127.0.0.1:${p('http')}/v1/messages -H 'Authorization: Bearer ${c.token}' -H 'Content-Type: application/json' \\
    -d '{"from":"app@example.com","to":["someone@example.net"],"subject":"hello","text":"hi from the local stack"}'

Ctrl-C stops everything.`);

/** This process's parent, its parent, ... (at most `depth`; never init). */
function ancestors(depth: number): number[] {
  const out: number[] = [];
  let pid = process.ppid;
  while (out.length < depth && pid > 1) {
    out.push(pid);
    try {
      // the fields after the command name, which may itself hold spaces or parentheses
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}
