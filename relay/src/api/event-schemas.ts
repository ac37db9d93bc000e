/**
 * JSON Schemas of the webhook events (relay/src/events/event-types.ts), for the OpenAPI
 * document's components/schemas and its `webhooks` entry. The relay's tests check emitted
 * events against them.
 */

const nullableString = { type: ['string', 'null'] };
const time = { type: 'string', format: 'date-time' };

const BASE_PROPERTIES = {
  id: { type: 'string', pattern: '^evt_[0-9a-f]{32}$', description: 'Stable across retries and restarts: de-duplicate on it.' },
  time: { ...time, description: 'When the reported state change happened.' },
  messageId: { ...nullableString, description: 'The Message-ID: field, when known.' },
  queueId: { ...nullableString, description: "The relay's queue id (null when nothing was queued)." },
  domain: { ...nullableString, description: 'The sending domain (null: mail of no configured domain; MailRelay webhooks only).' },
  recipient: { ...nullableString, description: 'Null only for a refusal before any recipient, or a complaint naming none.' },
  category: nullableString,
  tags: { type: 'array', items: { type: 'string' } },
  metadata: { type: 'object', additionalProperties: { type: 'string' } },
} as const;
const BASE_REQUIRED = ['id', 'type', 'time', 'messageId', 'queueId', 'domain', 'recipient', 'category', 'tags', 'metadata'];

function eventSchema(type: string, description: string, properties: Record<string, unknown>) {
  return {
    type: 'object',
    description,
    additionalProperties: false,
    required: [...BASE_REQUIRED, ...Object.keys(properties)],
    properties: { ...BASE_PROPERTIES, type: { const: type }, ...properties },
  };
}

const attempt = { type: 'integer', minimum: 0, description: 'Delivery attempt (1 for the first; 0 for a report after delivery).' };
const remoteHost = { ...nullableString, description: 'The MX host or smarthost that answered.' };

export const EVENT_SCHEMAS = {
  AcceptedEvent: eventSchema('accepted', 'Queued (durable in the spool) for this recipient.', {
    sender: { type: 'string', description: "Envelope sender; '' is the null sender." },
    submitter: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'name', 'listener', 'clientAddress'],
      properties: { kind: { enum: ['user', 'token', 'trusted'] }, name: nullableString, listener: { type: 'string' }, clientAddress: { type: 'string' } },
    },
    size: { type: 'integer', minimum: 0 },
  }),
  DeliveredEvent: eventSchema('delivered', 'The next hop took the message for this recipient.', {
    attempt,
    reply: { type: 'string' },
    remoteHost,
    tls: { ...nullableString, description: 'TLS version of the session (TLSv1.3, TLSv1.2); null: unencrypted.' },
  }),
  DeferredEvent: eventSchema('deferred', 'A failed attempt; the recipient stays queued. With `deferrals: first-and-last`, only the first and the last before the final outcome (same id as when first written).', {
    attempt,
    reply: { type: 'string' },
    remoteHost,
    nextAttemptAt: time,
  }),
  BouncedEvent: eventSchema('bounced', 'The recipient failed permanently.', {
    attempt,
    bounceType: { enum: ['hard', 'soft'], description: 'hard: the address (X.1.x, X.2.1, 5.0.0); soft: other permanent failures.' },
    status: { type: 'string', pattern: '^[245]\\.\\d{1,3}\\.\\d{1,3}$' },
    diagnostic: { type: 'string' },
    remoteHost,
    dsnSent: { type: 'boolean' },
    source: { enum: ['delivery', 'dsn', 'admin'] },
  }),
  ExpiredEvent: eventSchema('expired', 'The recipient was still pending after queue.maxAge.', { attempt, reply: { type: 'string' }, dsnSent: { type: 'boolean' } }),
  ComplainedEvent: eventSchema('complained', 'An ARF complaint about a message the relay sent.', { feedbackType: { type: 'string' }, userAgent: nullableString }),
  SuppressedEvent: eventSchema('suppressed', 'A recipient refused because it is suppressed for the sending domain.', { sender: { type: 'string' }, listener: { type: 'string' } }),
  RejectedEvent: eventSchema('rejected', 'A message or sender refused by policy or a pause (or a spool failure after an accepted event).', {
    sender: { type: 'string' },
    reason: { type: 'string' },
    text: { type: 'string' },
    listener: { type: 'string' },
  }),
  UnsubscribedEvent: eventSchema('unsubscribed', 'The recipient unsubscribed.', { method: { enum: ['one-click', 'mailto', 'api'] } }),
} as const;

const refs = Object.keys(EVENT_SCHEMAS).map((name) => ({ $ref: `#/components/schemas/${name}` }));

export const EVENT_UNION_SCHEMAS = {
  Event: { oneOf: refs, discriminator: { propertyName: 'type' } },
  EventBatch: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Event' }, description: 'With `batch`: up to maxEvents events in journal order.' },
} as const;

export const EVENT_WEBHOOK = {
  post: {
    summary: 'Delivery events, POSTed to each configured webhook URL',
    description:
      'One event per request, or with `batch` a JSON array of them. Signed: X-Mail-Relay-Signature `t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`, one v1 per key while a secret rotates. Answer 2xx to acknowledge; 5xx, 408, 429 and timeouts are retried with backoff, other answers drop the request.',
    parameters: [{ name: 'X-Mail-Relay-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^t=\\d+(,v1=[0-9a-f]{64})+$' } }],
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/Event' }, { $ref: '#/components/schemas/EventBatch' }] } } },
    },
    responses: { '2XX': { description: 'Received.' } },
  },
} as const;
