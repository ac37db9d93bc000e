/**
 * When to try a message again: `queue.retrySchedule` indexed by the number of attempts made
 * (the last step repeats), spread by ±10% so that a burst deferred together does not come back
 * as a burst.
 */
export function retryDelay(attempts: number, schedule: readonly number[], random: number): number {
  if (schedule.length === 0) return 60_000;
  const base = schedule[Math.min(Math.max(attempts, 1), schedule.length) - 1]!;
  return Math.max(0, Math.round(base * (0.9 + 0.2 * random)));
}

export function isExpired(createdAt: number, now: number, maxAge: number): boolean {
  return now - createdAt >= maxAge;
}
