import type { IntentState } from '@handoff/contracts';

/**
 * The one place that knows the intent states. Every statement that writes `intents.state`
 * takes its allowed source states from `transition(...)`, so a transition that is not listed
 * here cannot happen: the SQL's `state = ANY(from)` guard refuses it.
 */
export const transitions = {
  approve: { from: ['pending_approval'], to: 'approved', why: 'an operator approved this exact payload' },
  reject: {
    from: ['pending_approval', 'approved'],
    to: 'rejected',
    why: 'an operator refused it, or withdrew an approval before the first lease',
  },
  expire: {
    from: ['pending_approval', 'approved'],
    to: 'expired',
    why: 'nobody decided in time, or the approval lapsed before the first lease',
  },
  lease: {
    // `running` only when the previous holder's lease expired: a takeover, with a new epoch
    from: ['approved', 'retry_wait', 'running'],
    to: 'running',
    why: 'an executor took the lease',
  },
  succeed: { from: ['running'], to: 'succeeded', why: 'the connector (or reconcile) reported the effect done' },
  retryLater: { from: ['running'], to: 'retry_wait', why: 'a retryable failure with attempts left; waits out backoff' },
  die: { from: ['running'], to: 'dead', why: 'a permanent failure, or the attempt budget is spent' },
  doubt: { from: ['running'], to: 'in_doubt', why: 'the effect may or may not have happened; a person decides' },
  release: {
    from: ['running'],
    to: 'approved',
    why: 'no rate-limit token, breaker open, gate closed or shutdown before the effect: rescheduled, no attempt burned',
  },
  operatorRetry: { from: ['dead', 'in_doubt'], to: 'approved', why: 'an operator requeued it with a new attempt budget' },
  operatorResolve: { from: ['in_doubt'], to: 'succeeded', why: 'an operator confirmed the effect happened' },
} as const satisfies Record<string, { from: readonly IntentState[]; to: IntentState; why: string }>;

export type TransitionName = keyof typeof transitions;

/** States a new intent may start in. */
export const initialStates: readonly IntentState[] = ['pending_approval', 'approved'];

export const terminalStates: readonly IntentState[] = ['succeeded', 'rejected', 'expired', 'dead'];

export function transition<T extends TransitionName>(name: T): (typeof transitions)[T] {
  return transitions[name];
}

/** Source states of a transition as a plain array, ready to bind to `state = ANY($1)`. */
export function fromStates(name: TransitionName): string[] {
  return [...transitions[name].from];
}

export function isAllowed(from: IntentState, to: IntentState): boolean {
  return Object.values(transitions).some((t) => t.to === to && (t.from as readonly string[]).includes(from));
}

export function isTerminal(state: IntentState): boolean {
  return terminalStates.includes(state);
}
