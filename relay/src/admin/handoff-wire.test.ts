import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageMeta } from '../spool/types.ts';
import { FrameReader, MAX_FRAMES, encodeFrame, parseHandoffHeader, type FrameEvent } from './handoff-wire.ts';

const meta: MessageMeta = {
  id: '0MIA8Q4RS001ABCD',
  from: 'app@example.com',
  recipients: [
    { address: 'a@example.net', status: 'delivered', lastReply: '250 ok', updatedAt: 1000 },
    { address: 'b@example.net', status: 'pending', lastReply: '451 4.7.1 later', updatedAt: 1000 },
  ],
  createdAt: 900,
  size: 999,
  attempts: 2,
  nextAttemptAt: 5000,
  held: true,
  adminHold: true,
  sendingDomain: 'example.com',
  headerFromDomain: 'example.com',
  signingDomain: 'example.com',
  origin: { listener: 'submission', clientAddress: '10.0.0.1', user: 'app' },
  bodyFile: '0MIA8Q4RS001ABCD.eml',
};

function collect(reader: FrameReader, chunks: Buffer[]): FrameEvent[] {
  return chunks.flatMap((c) => reader.push(c));
}

test('a frame carries the meta with the recipients states, schedule and admin hold; the body size is the body sent', () => {
  const body = Buffer.from('Subject: hi\r\n\r\nhello\r\n');
  const bytes = Buffer.concat(encodeFrame('pod0origin000001', meta, body));
  const reader = new FrameReader(1000);
  const events = collect(reader, [bytes]);
  assert.equal(events[0]!.kind, 'header');
  const { header } = events[0] as Extract<FrameEvent, { kind: 'header' }>;
  assert.equal(header.origin, 'pod0origin000001');
  assert.equal(header.adminHold, true);
  assert.deepEqual(header.meta.recipients, meta.recipients);
  assert.equal(header.meta.attempts, 2);
  assert.equal(header.meta.nextAttemptAt, 5000);
  assert.equal(header.meta.createdAt, 900);
  assert.equal(header.meta.size, body.length);
  assert.equal(header.meta.signingDomain, 'example.com');
  assert.equal(header.meta.held, false, 'a pause hold is decided again by the receiver');
  assert.equal(header.meta.bodyFile, undefined, 'the sender body file is not the receiver s');
  const got = Buffer.concat(events.filter((e) => e.kind === 'body').map((e) => (e as { chunk: Buffer }).chunk));
  assert.deepEqual(got, body);
  assert.equal(events.at(-1)!.kind, 'end');
  reader.finish();
});

test('frames split at every byte boundary read back the same', () => {
  const frames = Buffer.concat([
    ...encodeFrame('o', meta, Buffer.from('first body\n\nwith newlines\n')),
    ...encodeFrame('o', { ...meta, id: '0MIA8Q4RS002ABCD', adminHold: false }, Buffer.alloc(0)),
    ...encodeFrame('o', { ...meta, id: '0MIA8Q4RS003ABCD' }, Buffer.from('x')),
  ]);
  const whole = collect(new FrameReader(1000), [frames]);
  const reader = new FrameReader(1000);
  const bytewise = collect(reader, [...frames].map((b) => Buffer.from([b])));
  reader.finish();
  // per frame: id, admin hold and the body, however the bytes were cut
  const summary = (events: FrameEvent[]) => {
    const out: string[] = [];
    for (const e of events) {
      if (e.kind === 'header') out.push(`${e.header.meta.id}:${e.header.adminHold}:`);
      else if (e.kind === 'body') out[out.length - 1] += e.chunk.toString('latin1');
    }
    return out;
  };
  assert.deepEqual(summary(bytewise), summary(whole));
  assert.deepEqual(summary(whole), ['0MIA8Q4RS001ABCD:true:first body\n\nwith newlines\n', '0MIA8Q4RS002ABCD:false:', '0MIA8Q4RS003ABCD:true:x']);
  assert.equal(whole.filter((e) => e.kind === 'end').length, 3);
  assert.equal(bytewise.filter((e) => e.kind === 'end').length, 3);
});

test('bad frames are refused with what is wrong', () => {
  const bad = (value: unknown) => () => parseHandoffHeader(value);
  assert.throws(bad(null), /not an object/);
  assert.throws(bad({ v: 2, origin: 'o', meta }), /v must be 1/);
  assert.throws(bad({ v: 1, origin: '../x', meta }), /bad origin/);
  assert.throws(bad({ v: 1, origin: 'o', meta: { ...meta, id: 'x' } }), /bad meta.id/);
  assert.throws(bad({ v: 1, origin: 'o', meta: { ...meta, recipients: [] } }), /recipients/);
  assert.throws(bad({ v: 1, origin: 'o', meta: { ...meta, recipients: [{ address: 'a@b', status: 'delivered' }] } }), /no pending recipient/);
  assert.throws(bad({ v: 1, origin: 'o', meta: { ...meta, size: -1 } }), /bad meta.size/);
  assert.throws(bad({ v: 1, origin: 'o', meta, adminHold: 'yes' }), /adminHold/);
  assert.throws(() => new FrameReader(10).push(Buffer.from('not json\n')), /not JSON/);
  assert.throws(() => new FrameReader(10).push(Buffer.concat(encodeFrame('o', meta, Buffer.alloc(11)))), /larger than limits.maxMessageSize/);
  assert.throws(() => new FrameReader(10).push(Buffer.alloc(2 ** 20 + 1, 0x20)), /header longer than/);
  const truncated = new FrameReader(100);
  truncated.push(Buffer.concat(encodeFrame('o', meta, Buffer.alloc(5))).subarray(0, -1));
  assert.throws(() => truncated.finish(), /ended inside a frame/);
  const many = Buffer.concat(Array.from({ length: MAX_FRAMES + 1 }, () => encodeFrame('o', meta, Buffer.alloc(0))).flat());
  assert.throws(() => new FrameReader(10).push(many), /more than 256 messages/);
});
