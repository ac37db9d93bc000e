/**
 * The lower-case name of a header field line whose colon is at `colon`. Space and tab before
 * the colon (obs-optional, RFC 5322 4.5.3) are not part of the name, so `From :` is a From:
 * field for the sender policy just as it is for the next hop. They are dropped by scanning back
 * from the colon: `/[ \t]+$/` restarts at every blank of a run that does not end the string,
 * which is quadratic in the run (a header line of 250 000 blanks stalled the event loop ~30 s).
 */
export function headerFieldName(line: string, colon: number): string {
  let end = colon;
  while (end > 0 && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
  return line.slice(0, end).toLowerCase();
}
