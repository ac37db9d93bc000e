import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { parse } from 'yaml';
import { getJson, condition } from '../operator/operator-helpers.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { clusterDir, LocalStack } from '../local-stack/local-stack.ts';
import { holdNodeTestLock } from '../control-plane/node-test-lock.ts';
import { nodeHostLeftovers } from '../control-plane/host-leftovers.ts';

/** The product as `npm start` runs it (pods on a real node): resources applied with kubectl, mail in over SMTP and HTTP, out at the sink. */
describe('end to end through the local stack', { timeout: 900_000 }, () => {
  let stack: LocalStack;
  const port = (name: string) => stack.pod()!.ports.get(name)!;
  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port('metrics')}/metrics`)).text();
    return [...text.matchAll(new RegExp(`^${pattern.source} (\\d+(?:\\.\\d+)?)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  };
  // The greeting only: the relay may be rolling, so a refused or cut connection is an empty answer.
  const banner = (p: number) =>
    new Promise<string>((resolve) => {
      const socket = connect(p, '127.0.0.1');
      socket.once('data', (d) => {
        resolve(d.toString());
        socket.destroy();
      });
      socket.on('error', () => resolve(''));
      socket.on('close', () => resolve(''));
    });

  // Made here, not with tempDir(): its after() hook would run at the end of before().
  const dataDir = mkdtempSync(join(tmpdir(), 'local-stack-'));

  let releaseTestLock: (() => void) | undefined;
  let stopped = false;

  before(async () => {
    releaseTestLock = await holdNodeTestLock();
    stack = await LocalStack.start({ dataDir });
  });

  after(async () => {
    if (!stopped) await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    releaseTestLock?.();
  });

  it('runs the relay pod the operator declares, and both resources become Ready', async () => {
    await waitFor('the relay pod', () => stack.pod() !== undefined, 180_000);
    await waitFor('MailRelay Ready', async () => condition(await getJson(stack.cp, stack.namespace, 'mailrelay/local'), 'Ready')?.status === 'True', 120_000);
    await waitFor('SendingDomain Ready and DNSVerified', async () => {
      const sd = await getJson(stack.cp, stack.namespace, 'sendingdomain/example-com');
      return condition(sd, 'Ready')?.status === 'True' && condition(sd, 'DNSVerified')?.status === 'True';
    }, 120_000);
    await waitFor('the greeting', async () => /^220 relay\.local-stack\.test /.test(await banner(port('smtp'))), 30_000);
  });

  it('delivers mail sent with AUTH over STARTTLS, DKIM-signed, to the sink', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: port('submission'),
      requireTLS: true,
      tls: { ca: readFileSync(stack.credentials.caFile), servername: 'localhost' },
      auth: { user: stack.credentials.username, pass: stack.credentials.password },
    });
    const info = await transport.sendMail({ from: 'app@example.com', to: 'someone@gmail.example', subject: 'e2e smtp', text: 'hello over SMTP' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    await waitFor('the SMTP message at the sink', () => stack.sink.messages.some((m) => m.raw.includes('e2e smtp')), 120_000);
    const got = stack.sink.messages.find((m) => m.raw.includes('e2e smtp'))!;
    assert.deepEqual(got.to, ['someone@gmail.example']);
    assert.deepEqual(got.dkim, ['pass example.com']);
  });

  it('refuses AUTH with a wrong password and relaying for unauthenticated clients outside trusted networks', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: port('submission'),
      requireTLS: true,
      tls: { ca: readFileSync(stack.credentials.caFile), servername: 'localhost' },
      auth: { user: stack.credentials.username, pass: 'wrong' },
    });
    await assert.rejects(transport.sendMail({ from: 'app@example.com', to: 'x@example.net', text: 'no' }), /535/);
  });

  it('delivers mail sent through the HTTP API, DKIM-signed', async () => {
    const res = await fetch(`http://127.0.0.1:${port('http')}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.credentials.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'app@example.com', to: ['reader@outlook.example'], subject: 'e2e http', text: 'hello over HTTP' }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    assert.ok(((await res.json()) as { id?: string }).id);
    await waitFor('the HTTP message at the sink', () => stack.sink.messages.some((m) => m.raw.includes('e2e http')), 120_000);
    assert.deepEqual(stack.sink.messages.find((m) => m.raw.includes('e2e http'))!.dkim, ['pass example.com']);
  });

  it("shows the traffic in the relay's metrics", async () => {
    assert.ok((await metric(/mailrelay_messages_received_total\{listener="submission"\}/)) >= 1);
    assert.ok((await metric(/mailrelay_messages_received_total\{listener="http"\}/)) >= 1);
    await waitFor('deliveries counted', async () => (await metric(/mailrelay_messages_delivered_total\{domain="example\.com",provider="[a-z]+"\}/)) >= 2, 30_000);
  });

  it('reports the relay figures in the SendingDomain status', async () => {
    await waitFor('status.reputation.delivered', async () => {
      const sd = (await getJson(stack.cp, stack.namespace, 'sendingdomain/example-com')) as { status?: { reputation?: { delivered?: number; pods?: number } } } | undefined;
      return (sd?.status?.reputation?.delivered ?? 0) >= 2 && sd?.status?.reputation?.pods === 1;
    }, 60_000);
    assert.equal(condition(await getJson(stack.cp, stack.namespace, 'sendingdomain/example-com'), 'Paused')?.status, 'False');
  });

  it('rolls the local relay to a new config when the MailRelay spec changes', async () => {
    await stack.cp.kubectl(['patch', 'mailrelay', 'local', '-n', stack.namespace, '--type=merge', '-p', '{"spec":{"hostname":"relay2.local-stack.test"}}']);
    await waitFor('the relay greets with the new name', async () => {
      const pod = stack.pod();
      return !!pod && /^220 relay2\.local-stack\.test /.test(await banner(pod.ports.get('smtp')!));
    }, 120_000);
    const config = parse(await stack.cp.kubectl(['get', 'configmap', 'local-config', '-n', stack.namespace, '-o', 'jsonpath={.data.relay\\.yaml}'])) as { hostname: string };
    assert.equal(config.hostname, 'relay2.local-stack.test');
  });

  // Last: it stops the stack and starts it again from the same dataDir.
  it('keeps the cluster across a restart: the spool, the credentials, the kubeconfig and the DKIM key stay, and the host is clean after the stop', async () => {
    // the DKIM record only: the start applies the example again, which sets the hostname (and so SPF) back
    const dkimRecords = async () =>
      ((await getJson(stack.cp, stack.namespace, 'sendingdomain/example-com')) as { status?: { dnsRecords?: Array<{ purpose?: string }> } } | undefined)?.status?.dnsRecords?.filter((r) => r.purpose === 'dkim');
    const before = { credentials: stack.credentials, kubeconfigPath: stack.cp.kubeconfigPath, kubeconfig: readFileSync(stack.cp.kubeconfigPath, 'utf8'), ca: readFileSync(stack.credentials.caFile, 'utf8'), records: await dkimRecords() };
    assert.equal(before.records?.length, 1, 'the SendingDomain publishes its DKIM record');
    // No sink: the message is acknowledged (fsynced to the spool on its PersistentVolume) and stays queued.
    await stack.sink.close();
    const send = (subject: string) =>
      nodemailer
        .createTransport({
          host: '127.0.0.1',
          port: port('submission'),
          requireTLS: true,
          tls: { ca: before.ca, servername: 'localhost' },
          auth: { user: before.credentials.username, pass: before.credentials.password },
        })
        .sendMail({ from: 'app@example.com', to: 'kept@gmail.example', subject, text: 'across a restart' });
    assert.match((await send('e2e queued across restart')).response, /^250 2\.0\.0 Ok: queued as /);
    await stack.stop();

    stack = await LocalStack.start({ dataDir });
    assert.deepEqual(stack.credentials, before.credentials);
    assert.equal(stack.cp.kubeconfigPath, before.kubeconfigPath);
    assert.equal(readFileSync(stack.credentials.caFile, 'utf8'), before.ca);
    await waitFor('the relay pod after the restart', () => stack.pod() !== undefined, 180_000);
    await waitFor('the queued message at the sink after the restart', () => stack.sink.messages.some((m) => m.raw.includes('e2e queued across restart')), 120_000);
    assert.deepEqual(stack.sink.messages.find((m) => m.raw.includes('e2e queued across restart'))!.dkim, ['pass example.com']);
    // The start re-applied the example (hostname relay, not relay2): the relay rolls once more, and
    // a connection the rolling pod cuts before its 250 is an unsent message, so it is sent again.
    await waitFor('the relay greets with the example\'s name', async () => {
      const pod = stack.pod();
      return !!pod && /^220 relay\.local-stack\.test /.test(await banner(pod.ports.get('smtp')!));
    }, 120_000);
    let sent: Awaited<ReturnType<typeof send>> | undefined;
    for (let attempt = 1; !sent; attempt++) {
      await waitFor('the relay pod', () => stack.pod() !== undefined, 60_000);
      try {
        sent = await send('e2e after restart');
      } catch (err) {
        if (attempt >= 5 || (err as { code?: string }).code !== 'ECONNECTION') throw err;
        await sleep(2000);
      }
    }
    assert.match(sent.response, /^250 2\.0\.0 Ok: queued as /);
    await waitFor('the new message at the sink', () => stack.sink.messages.some((m) => m.raw.includes('e2e after restart')), 120_000);
    assert.deepEqual(await dkimRecords(), before.records);
    // the kubeconfig written before the restart still reaches the API server as admin
    const oldKubeconfig = join(dataDir, 'old-kubeconfig');
    writeFileSync(oldKubeconfig, before.kubeconfig);
    assert.match(await stack.cp.kubectl(['auth', 'can-i', '*', '*'], { env: { KUBECONFIG: oldKubeconfig } }), /^yes/);
    const args = JSON.parse(await stack.cp.kubectl(['get', 'deployment', 'mail-relay-operator', '-n', 'mail-relay-system', '-o', 'jsonpath={.spec.template.spec.containers[0].args}'])) as string[];
    assert.equal(args.filter((a) => a === '--dns-check-interval').length, 1);

    stopped = true;
    await stack.stop();
    assert.deepEqual(nodeHostLeftovers([clusterDir(dataDir)]), []);
  });
});
