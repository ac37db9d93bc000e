/**
 * The OpenAPI 3.1 description of the HTTP send API, written by hand and served at
 * `GET /v1/openapi.json`. http-api.test.ts checks that its paths are exactly the
 * routes the server serves.
 */

import { EVENT_SCHEMAS, EVENT_UNION_SCHEMAS, EVENT_WEBHOOK } from './event-schemas.ts';

const mailbox = {
  oneOf: [
    { type: 'string', description: '`user@example.com` or `Name <user@example.com>`', examples: ['App <app@example.com>'] },
    {
      type: 'object',
      required: ['address'],
      additionalProperties: false,
      properties: { name: { type: 'string' }, address: { type: 'string', format: 'email' } },
    },
  ],
};
const mailboxes = { oneOf: [mailbox, { type: 'array', items: mailbox }] };
const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } } };
const domainParameter = { name: 'domain', in: 'path', required: true, schema: { type: 'string' } };
const categoryName = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' };
const counts = {
  type: 'object',
  description: 'Recipients sent (delivered or hard-bounced at delivery), delivered, hardBounces, deferrals (attempts), complaints, and the rates.',
  properties: Object.fromEntries(
    ['sent', 'delivered', 'hardBounces', 'deferrals', 'complaints', 'bounceRate', 'complaintRate', 'deferralRate'].map((k) => [k, { type: 'number' }]),
  ),
};
const windows = { type: 'object', properties: { '1h': counts, '24h': counts } };
const thresholds = {
  type: 'object',
  properties: { maxBounceRate: { type: 'number' }, maxComplaintRate: { type: 'number' }, minVolume: { type: 'integer' }, pauseOnBreach: { type: 'boolean' } },
};

const submitResponses = {
  '202': {
    description: 'Queued: the message is durable in the spool (fsynced) before this answer.',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } },
  },
  '400': error('Invalid JSON or fields (the first 20 bad fields are listed in `problems`, `message` counts them all), or every recipient suppressed (`rejected`).'),
  '401': error('Missing or unknown bearer token.'),
  '403': error("The sender's domain is not a sending domain of this relay, or not one this token may use."),
  '413': error('The request body or the resulting message exceeds limits.maxMessageSize.'),
  '415': error('The body is not application/json.'),
  '422': error('The Idempotency-Key was used before with a different request.'),
  '423': error("The sending domain, or the message's category of it, is paused; `message` says why."),
  '503': { ...error('The spool is full or failing, or the relay is shutting down; retry later.'), headers: retryAfter },
};

const submitParameters = [
  {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Makes a retry safe: a request repeating a key used by the same token within 24 h returns the first 202 and queues nothing. ' +
      'Only successful requests are remembered. The same key with a different body gets 422. Kept across restarts.',
    schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  },
];

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'mail-relay HTTP send API',
    version: '1',
    description:
      'Queue mail through the relay over HTTP, with the same sender policy, limits and durability as SMTP submission. ' +
      'Authenticate with `Authorization: Bearer <token>` (http.tokensFile).',
  },
  security: [{ bearer: [] }],
  /** What the relay sends to the webhooks of relay.yaml (not served by this API). */
  webhooks: { deliveryEvent: EVENT_WEBHOOK },
  paths: {
    '/v1/messages': {
      post: {
        summary: 'Compose and queue a message',
        operationId: 'sendMessage',
        parameters: submitParameters,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MessageRequest' } } } },
        responses: submitResponses,
      },
    },
    '/v1/messages/raw': {
      post: {
        summary: 'Queue a complete RFC 5322 message with its envelope',
        description:
          'The message is relayed as given, with line endings normalised to CRLF and a Received: line (and Message-ID:/Date: if missing) added. ' +
          'Its X-Mail-Relay-Category, X-Mail-Relay-Tags and X-Mail-Relay-Metadata fields are read as over SMTP and removed.',
        operationId: 'sendRawMessage',
        parameters: submitParameters,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RawRequest' } } } },
        responses: submitResponses,
      },
    },
    '/v1/messages/{id}': {
      get: {
        summary: 'Per-recipient delivery state of a message',
        description:
          'Only the token that sent the message may read it; for any other token it does not exist (404). ' +
          'Finished messages are remembered for 7 days (the most recent 100,000).',
        operationId: 'getMessage',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9A-Z]{16}$' } }],
        responses: {
          '200': { description: 'The message state.', content: { 'application/json': { schema: { $ref: '#/components/schemas/MessageStatus' } } } },
          '401': error('Missing or unknown bearer token.'),
          '404': error('No such message sent with this token (or no longer remembered).'),
        },
      },
    },
    '/v1/domains/{domain}/reputation': {
      get: {
        summary: "A sending domain's reputation",
        description:
          "This pod's counts and rates over the last hour and 24 hours (`windows`), the 24 h sums over every pod of the relay as the operator last pushed them (`relay`, with the time of the push; null without an operator), the thresholds, and whether the domain is paused and why (`source`: `reputation` for this pod's own figures, `relay-wide` for the sums of every pod, `config`).",
        operationId: 'getReputation',
        parameters: [domainParameter],
        responses: {
          '200': { description: 'The figures.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Reputation' } } } },
          '401': error('Missing or unknown bearer token.'),
          '403': error('The token may not send for this domain.'),
          '404': error('Not a sending domain of this relay.'),
        },
      },
    },
    '/v1/domains/{domain}/categories/{category}/resume': {
      post: {
        summary: "Lift a category's reputation pause",
        description:
          "The category's held mail flows again; its later breaches are judged on what happens after the resume. The domain and its other categories are left as they are.",
        operationId: 'resumeCategory',
        parameters: [domainParameter, { name: 'category', in: 'path', required: true, schema: categoryName, description: 'A declared category, or other.' }],
        responses: {
          '200': { description: 'Resumed (or was not paused).', content: { 'application/json': { schema: { type: 'object' } } } },
          '401': error('Missing or unknown bearer token.'),
          '403': error('The token may not send for this domain.'),
          '404': error('Not a sending domain of this relay, or not one of its categories.'),
        },
      },
    },
    '/v1/domains/{domain}/resume': {
      post: {
        summary: 'Lift a reputation pause',
        description:
          'Lifts this pod\'s own and the relay-wide reputation pause; the operator carries the resume to every other pod of the relay within seconds. Held mail flows again; later breaches are judged on what happens after the resume. A pause set in relay.yaml is lifted only there (409).',
        operationId: 'resumeDomain',
        parameters: [domainParameter],
        responses: {
          '200': { description: 'Resumed (or was not paused).', content: { 'application/json': { schema: { type: 'object' } } } },
          '401': error('Missing or unknown bearer token.'),
          '403': error('The token may not send for this domain.'),
          '404': error('Not a sending domain of this relay.'),
          '409': error('The pause comes from relay.yaml.'),
        },
      },
    },
    '/v1/suppressions': {
      get: {
        summary: 'Suppressed recipients of a sending domain',
        operationId: 'listSuppressions',
        parameters: [
          { name: 'domain', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
        ],
        responses: {
          '200': { description: 'Recipients with the reason and expiry of each suppression.', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': error('domain missing or limit out of range.'),
          '401': error('Missing or unknown bearer token.'),
          '403': error('The token may not send for this domain.'),
          '404': error('Not a sending domain of this relay.'),
        },
      },
    },
    '/v1/suppressions/{domain}/{recipient}': {
      delete: {
        summary: 'Remove a recipient from the suppression list',
        operationId: 'deleteSuppression',
        parameters: [
          domainParameter,
          { name: 'recipient', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'category', in: 'query', required: false, schema: { type: 'string' }, description: 'Lift an unsubscribe from this category only (the domain-wide suppression is lifted without it).' },
        ],
        responses: {
          '204': { description: 'Removed.' },
          '401': error('Missing or unknown bearer token.'),
          '403': error('The token may not send for this domain.'),
          '404': error('Not suppressed.'),
        },
      },
    },
    '/v1/openapi.json': {
      get: {
        summary: 'This document',
        operationId: 'getOpenApi',
        security: [],
        responses: { '200': { description: 'OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from http.tokensFile.' } },
    schemas: {
      MessageRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['from'],
        description: 'At least one of to, cc, bcc and one of text, html. Header values, subject, names and addresses must not contain CR or LF.',
        properties: {
          from: { ...mailbox, description: 'Also the envelope sender; its domain must be a sending domain the token may use.' },
          to: mailboxes,
          cc: mailboxes,
          bcc: { ...mailboxes, description: 'Envelope recipients not written to the headers.' },
          replyTo: mailboxes,
          subject: { type: 'string', maxLength: 998 },
          text: { type: 'string' },
          html: { type: 'string' },
          headers: {
            type: 'object',
            description: 'Extra header fields. From, To, Cc, Bcc, Reply-To, Subject, Sender, MIME headers, X-Mail-Relay-Category/-Tags/-Metadata (use category, tags, metadata), and trace and authentication headers (Received, Return-Path, DKIM-Signature, DomainKey-Signature, Authentication-Results, Received-SPF, ARC-*, Resent-*, X-Original-To, Delivered-To, Envelope-To, X-Envelope-To, X-Envelope-From, Original-Recipient) are refused with 400 naming the header; Message-ID and Date replace the generated ones.',
            additionalProperties: { type: 'string', maxLength: 998 },
          },
          attachments: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['filename', 'content'],
              properties: {
                filename: { type: 'string', maxLength: 255 },
                content: { type: 'string', contentEncoding: 'base64' },
                contentType: { type: 'string', description: 'Media type; guessed from filename when absent.' },
              },
            },
          },
          category: {
            ...categoryName,
            description:
              'What kind of mail this is (X-Mail-Relay-Category over SMTP). Counted, and paused, per category: one the domain does not declare (domains[].categories) counts as other. Stored as given.',
          },
          tags: {
            type: 'array',
            maxItems: 10,
            items: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
            description: 'Up to 10 tags of up to 64 characters (X-Mail-Relay-Tags over SMTP, comma-separated); duplicates are dropped.',
          },
          metadata: {
            type: 'object',
            maxProperties: 10,
            propertyNames: { minLength: 1, maxLength: 64 },
            additionalProperties: { type: 'string', maxLength: 256 },
            description:
              'Up to 10 keys of up to 64 characters, string values of up to 256, at most 2 KiB as JSON, no control characters (X-Mail-Relay-Metadata over SMTP, a JSON object). Never sent to recipients.',
          },
        },
      },
      RawRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        description: 'Exactly one of message and messageBase64.',
        properties: {
          from: { type: 'string', format: 'email', description: 'Envelope sender (MAIL FROM).' },
          to: { type: 'array', minItems: 1, items: { type: 'string', format: 'email' }, description: 'Envelope recipients (RCPT TO).' },
          message: { type: 'string', description: 'The RFC 5322 message as text (sent as UTF-8).' },
          messageBase64: { type: 'string', contentEncoding: 'base64', description: 'The RFC 5322 message, base64-encoded (for 8-bit or binary content).' },
        },
      },
      Reputation: {
        type: 'object',
        required: ['domain', 'paused', 'thresholds', 'windows', 'categories'],
        properties: {
          domain: { type: 'string' },
          paused: {
            oneOf: [
              { type: 'null' },
              { type: 'object', properties: { source: { enum: ['reputation', 'config'] }, reason: { type: 'string' }, since: { type: 'string', format: 'date-time' } } },
            ],
          },
          thresholds,
          windows,
          categories: {
            type: 'object',
            description: "Each declared category and other, with its thresholds (its own, else the domain's), figures of this relay, and its pause.",
            additionalProperties: {
              type: 'object',
              required: ['thresholds', 'windows', 'paused'],
              properties: {
                thresholds,
                windows,
                paused: { oneOf: [{ type: 'null' }, { type: 'object', properties: { reason: { type: 'string' }, since: { type: 'string', format: 'date-time' } } }] },
              },
            },
          },
        },
      },
      Accepted: {
        type: 'object',
        required: ['id', 'rejected'],
        properties: {
          id: { type: 'string', description: 'Queue id, for GET /v1/messages/{id}.' },
          rejected: { $ref: '#/components/schemas/Rejected' },
        },
      },
      Rejected: {
        type: 'array',
        description: 'Recipients not queued (e.g. suppressed), each with a reason.',
        items: { type: 'object', required: ['recipient', 'reason'], properties: { recipient: { type: 'string' }, reason: { type: 'string' } } },
      },
      MessageStatus: {
        type: 'object',
        required: ['id', 'createdAt', 'state', 'recipients'],
        properties: {
          id: { type: 'string' },
          createdAt: { type: 'string', format: 'date-time' },
          state: { enum: ['queued', 'finished'] },
          recipients: {
            type: 'array',
            items: {
              type: 'object',
              required: ['recipient', 'state'],
              properties: {
                recipient: { type: 'string' },
                state: { enum: ['queued', 'deferred', 'delivered', 'bounced'] },
                reply: { type: 'string', description: 'Last reply of the next hop (deferred, delivered, bounced).' },
                updatedAt: { type: 'string', format: 'date-time' },
              },
            },
          },
        },
      },
      ...EVENT_SCHEMAS,
      ...EVENT_UNION_SCHEMAS,
      Error: {
        type: 'object',
        required: ['error', 'message'],
        properties: {
          error: { type: 'string', description: 'Stable code, e.g. invalid_request, unauthorized, domain_paused, spool_full.' },
          message: { type: 'string' },
          problems: {
            type: 'array',
            maxItems: 20,
            description: 'The first 20 problems; field paths longer than 100 characters are cut.',
            items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
          },
          rejected: { $ref: '#/components/schemas/Rejected' },
        },
      },
    },
  },
} as const;
