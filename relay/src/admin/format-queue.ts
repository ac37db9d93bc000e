import type { MessageView } from './message-view.ts';

/**
 * Human output of `mail-relay queue`, laid out like Postfix's `mailq`: one block per message
 * (id with `*` while in a delivery attempt, `!` when held; size; age; sender), then one line
 * per recipient with its state and last reply. Pure: the caller passes the clock.
 */

/** Queue data comes from the network: no control character reaches the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export const LIST_HEADER = '-Queue ID-------- --Size-- -Age- -Sender/Recipient-------';

function recipientLine(r: MessageView['recipients'][number], indent: string): string {
  return `${indent}${printable(r.address)}  ${r.status}${r.lastReply ? `  ${printable(r.lastReply)}` : ''}`;
}

export function formatListEntry(m: MessageView): string {
  const mark = m.active ? '*' : m.state === 'held' ? '!' : ' ';
  const head = `${m.id}${mark} ${String(m.size).padStart(8)} ${formatAge(m.ageSeconds).padStart(5)} ${printable(m.from) || 'MAILER-DAEMON'}`;
  const indent = ' '.repeat(33);
  return [head, ...m.recipients.filter((r) => r.status === 'pending').map((r) => recipientLine(r, indent)), ''].join('\n');
}

export function formatListFooter(count: number, bytes: number): string {
  if (count === 0) return 'Mail queue is empty';
  return `-- ${Math.ceil(bytes / 1024)} Kbytes in ${count} Request${count === 1 ? '' : 's'}.`;
}

export function formatShow(m: MessageView): string {
  const state = [m.state, m.active ? 'in a delivery attempt' : '', m.adminHold ? 'held by an administrator' : '', m.pausedHold ? 'sending domain paused' : '']
    .filter(Boolean)
    .join(', ');
  const origin = [`listener ${printable(m.origin.listener)}`, m.origin.clientAddress ? `client ${printable(m.origin.clientAddress)}` : '', m.origin.user ? `user ${printable(m.origin.user)}` : '']
    .filter(Boolean)
    .join(', ');
  return [
    `Queue ID:    ${m.id}`,
    `State:       ${state}`,
    `Size:        ${m.size} bytes`,
    `Sender:      ${printable(m.from) || '<> (null sender)'}`,
    ...(m.sendingDomain ? [`Domain:      ${printable(m.sendingDomain)}`] : []),
    `Arrived:     ${m.createdAt} (${formatAge(m.ageSeconds)} ago)`,
    `Attempts:    ${m.attempts}${m.attempts > 0 || m.state !== 'ready' ? `, next ${m.nextAttemptAt}` : ''}`,
    `Expires:     ${m.expiresAt}`,
    `Origin:      ${origin}`,
    'Recipients:',
    ...m.recipients.map((r) => recipientLine(r, '  ')),
    '',
  ].join('\n');
}
