/** A small deterministic generator, so a failure can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

export function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

/** Up to `max` pieces drawn from `pieces`, joined. */
export function randomText(next: () => number, max: number, pieces: readonly string[]): string {
  let s = '';
  const n = Math.floor(next() * max);
  for (let i = 0; i < n; i++) s += pick(next, pieces);
  return s;
}
