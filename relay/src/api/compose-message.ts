import MailComposer from 'nodemailer/lib/mail-composer';
import type { MessageRequest } from './message-request.ts';
import type { Mailbox } from './request-fields.ts';

function formatted(list: readonly Mailbox[]): Array<{ name: string; address: string }> {
  return list.map((m) => ({ name: m.name ?? '', address: m.address }));
}

/**
 * Builds the MIME message of an API request with nodemailer's composer. Attachments are
 * only ever the request's own bytes: file and URL access are off, so a request cannot make
 * the relay read a local file or fetch a URL. Bcc recipients are not written as a header.
 */
export async function composeMessage(req: MessageRequest, ids: { readonly messageId: string; readonly date: Date }): Promise<Buffer> {
  const custom = new Map(req.headers.map(([k, v]) => [k.toLowerCase(), v]));
  const composer = new MailComposer({
    from: { name: req.from.name ?? '', address: req.from.address },
    ...(req.to.length ? { to: formatted(req.to) } : {}),
    ...(req.cc.length ? { cc: formatted(req.cc) } : {}),
    ...(req.replyTo.length ? { replyTo: formatted(req.replyTo) } : {}),
    ...(req.subject !== undefined ? { subject: req.subject } : {}),
    ...(req.text !== undefined ? { text: req.text } : {}),
    ...(req.html !== undefined ? { html: req.html } : {}),
    headers: req.headers.filter(([k]) => !/^(message-id|date)$/i.test(k)).map(([key, value]) => ({ key, value })),
    attachments: req.attachments.map((a) => ({ filename: a.filename, content: a.content, ...(a.contentType ? { contentType: a.contentType } : {}) })),
    // a Message-ID or Date the client gives is kept; otherwise the relay's, as on submission
    messageId: custom.get('message-id') ?? ids.messageId,
    date: custom.get('date') ?? ids.date,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return new Promise<Buffer>((resolve, reject) => {
    composer.compile().build((err, message) => (err ? reject(err) : resolve(message)));
  });
}
