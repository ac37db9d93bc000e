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

/**
 * RFC 5322 3.6.8: one or more printable US-ASCII characters (the colon ends it). Parsers differ
 * on any other name: mailauth trims `From\v` and `From\xa0` to `from`, we do not, so a field the
 * sender policy did not read as From: could be a verifier's From:.
 */
export function isFieldName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
