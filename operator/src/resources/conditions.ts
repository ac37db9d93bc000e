import type { Condition, ConditionStatus } from '../api/v1alpha1/types.ts';

export interface ConditionInput {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/**
 * Conditions for a new status: lastTransitionTime moves only when a condition's status flips,
 * so an unchanged world produces an identical status and no write. Pure: `now` is passed in.
 */
export function buildConditions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number, now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return {
      type: c.type,
      status: c.status,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now,
      reason: c.reason,
      message: c.message,
    };
  });
}
