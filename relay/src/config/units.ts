/** Duration and size strings of relay.yaml: `30s`, `5m`, `4h`, `5d`, `250ms`; `25Mi`, `512Ki`, `1G`. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Milliseconds, or undefined when the text is not a duration. Compound forms like `1h30m` are allowed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let total = 0;
  let rest = trimmed;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

/** Bytes, or undefined when the text is not a size. Plain numbers are bytes. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(|k|K|M|G|T|Ki|Mi|Gi|Ti)\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!);
}
