/** RFC 5322 date-time in UTC, e.g. `Sat, 28 Nov 2026 14:31:00 +0000`. */
export function formatRfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
