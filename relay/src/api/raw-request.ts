import { FieldProblems, addressList, bareAddress, base64, isRecord, rejectUnknown } from './request-fields.ts';

/**
 * The body of `POST /v1/messages/raw`: the envelope and a complete RFC 5322 message, as text
 * (`message`) or, for 8-bit or binary content, base64 (`messageBase64`).
 */
export interface RawRequest {
  readonly from: string;
  readonly to: readonly string[];
  readonly message: Buffer;
}

export function parseRawRequest(body: unknown): RawRequest {
  const problems = new FieldProblems();
  if (!isRecord(body)) {
    problems.add('', 'the body must be a JSON object');
    problems.check();
  }
  const b = body as Record<string, unknown>;
  rejectUnknown(b, ['from', 'to', 'message', 'messageBase64'], problems);
  const from = bareAddress(b.from, 'from', problems);
  const to = addressList(b.to, 'to', problems);
  let message: Buffer | undefined;
  if (b.message !== undefined && b.messageBase64 !== undefined) problems.add('message', 'give message or messageBase64, not both');
  else if (b.message !== undefined) {
    if (typeof b.message === 'string' && b.message !== '') message = Buffer.from(b.message, 'utf8');
    else problems.add('message', 'must be a non-empty string');
  } else if (b.messageBase64 !== undefined) {
    message = base64(b.messageBase64, 'messageBase64', problems, { nonEmpty: true });
  } else problems.add('message', 'is required (or messageBase64)');
  problems.check();
  return { from: from!, to, message: message! };
}
