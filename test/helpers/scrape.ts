/** The sum of every sample on a /metrics page whose line matches `line` (0 when none does). */
export async function scrapeSum(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}
