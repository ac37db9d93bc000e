/** Selectors of rotated keys: `mr<yyyymm><n>`, so a record's name tells when its key was made. */
const ROTATED = /^mr(\d{6})(\d+)$/;

export function isRotatedSelector(selector: string): boolean {
  return ROTATED.test(selector);
}

/**
 * The selector for a key made at `now` (UTC month): one past the highest number of that month
 * among `known` (every selector the domain has or had, so none is used twice). Pure.
 */
export function buildRotationSelector(now: Date, known: readonly string[]): string {
  const month = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  let highest = 0;
  for (const selector of known) {
    const m = ROTATED.exec(selector);
    if (m && m[1] === month) highest = Math.max(highest, Number(m[2]));
  }
  return `mr${month}${highest + 1}`;
}
