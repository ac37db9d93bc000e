import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { before, describe, it } from 'node:test';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import winston from 'winston';
import { getSharedControlPlane } from '../../../test/control-plane/control-plane.ts';
import type { ControlPlane } from '../../../test/control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../../../test/control-plane/test-timeouts.ts';
import { EventRecorder, REPORTING_CONTROLLER } from './events.ts';
import { RestClient } from './rest-client.ts';

interface Event {
  metadata: { name: string };
  type: string;
  reason: string;
  action: string;
  note: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { kind: string; name: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
}

function capturingLogger(): { logger: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

describe('EventRecorder', { timeout: TEST_TIMEOUT_MS }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let rest: RestClient;

  before(async () => {
    cp = await getSharedControlPlane();
    kc = cp.kubeConfig();
    rest = new RestClient(kc);
  }, { timeout: SETUP_TIMEOUT_MS });

  async function regardingConfigMap(ns: string): Promise<KubernetesObject> {
    return rest.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'relay' } } });
  }
  const events = async (ns: string): Promise<Event[]> => (await rest.request<{ items: Event[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items;

  it('records an event about an object, folding identical repeats into one series', async () => {
    const ns = await cp.newNamespace('events');
    const cm = { ...(await regardingConfigMap(ns)), apiVersion: 'v1', kind: 'ConfigMap' };
    const recorder = new EventRecorder(kc, { reportingInstance: 'operator-0' });
    await Promise.all(Array.from({ length: 5 }, () => recorder.record(cm, 'Warning', 'ApplyFailed', 'conflict on ConfigMap relay-config')));
    await recorder.record(cm, 'Normal', 'Reconciled', 'all children applied');

    const list = await events(ns);
    assert.equal(list.length, 2);
    const warning = list.find((e) => e.reason === 'ApplyFailed');
    assert.ok(warning);
    assert.equal(warning.type, 'Warning');
    assert.equal(warning.note, 'conflict on ConfigMap relay-config');
    assert.equal(warning.action, 'ApplyFailed');
    assert.equal(warning.reportingController, REPORTING_CONTROLLER);
    assert.equal(warning.reportingInstance, 'operator-0');
    assert.deepEqual([warning.regarding.kind, warning.regarding.name, warning.regarding.uid], ['ConfigMap', 'relay', cm.metadata?.uid]);
    assert.equal(warning.series?.count, 5);
    assert.equal(list.find((e) => e.reason === 'Reconciled')?.series, undefined);
  });

  it('starts a new event once the series window has passed, and after the first one is gone', async () => {
    const ns = await cp.newNamespace('events-window');
    const cm = await regardingConfigMap(ns);
    const noWindow = new EventRecorder(kc, { reportingInstance: 'operator-0', seriesWindowMs: 0 });
    await noWindow.record(cm, 'Normal', 'Reconciled', 'ok');
    await noWindow.record(cm, 'Normal', 'Reconciled', 'ok');
    assert.equal((await events(ns)).length, 2);

    const recorder = new EventRecorder(kc, { reportingInstance: 'operator-0' });
    await recorder.record(cm, 'Warning', 'InvalidSpec', 'bad');
    const [first] = (await events(ns)).filter((e) => e.reason === 'InvalidSpec');
    assert.ok(first);
    await rest.request('DELETE', `/apis/events.k8s.io/v1/namespaces/${ns}/events/${first.metadata.name}`);
    await recorder.record(cm, 'Warning', 'InvalidSpec', 'bad');
    const again = (await events(ns)).filter((e) => e.reason === 'InvalidSpec');
    assert.equal(again.length, 1);
    assert.notEqual(again[0]?.metadata.name, first.metadata.name);
  });

  it('logs a failure instead of throwing', async () => {
    const { logger, lines } = capturingLogger();
    const recorder = new EventRecorder(kc, { reportingInstance: 'operator-0', logger });
    const ghost = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'no-such-namespace', name: 'x' } };
    await recorder.record(ghost, 'Warning', 'ApplyFailed', 'x');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.message, 'could not record event');
    assert.equal(lines[0]?.status, 404);
    assert.equal(lines[0]?.namespace, 'no-such-namespace');
  });
});
