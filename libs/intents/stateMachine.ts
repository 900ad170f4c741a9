import { IntentState } from '@handoff/contracts';

/**
 * The one place that knows the intent states. Every statement that writes `intents.state`
 * takes its allowed source states from `transition(...)`, so a transition that is not listed
 * here cannot happen: the SQL's `state = ANY(from)` guard refuses it. The named sets below are
 * what other statements read (which intents to count, re-ticket or fence on), built from the
 * contract's enum; test/intents/states.test.ts holds them to the contract and the migration.
 */
const S = IntentState.enum;

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
  operatorRetry: {
    from: ['dead', 'in_doubt'],
    to: 'approved',
    why: 'an operator requeued it with a new attempt budget',
  },
  operatorResolve: { from: ['in_doubt'], to: 'succeeded', why: 'an operator confirmed the effect happened' },
} as const satisfies Record<string, { from: readonly IntentState[]; to: IntentState; why: string }>;

export type TransitionName = keyof typeof transitions;

/** Waiting for an operator's approval: where an intent that needs one starts. */
export const AWAITING_APPROVAL = S.pending_approval;

/** The state of an intent whose lease an executor holds (or held, until the lease expires). */
export const LEASED = transitions.lease.to;

/** Waiting for a lease: due now or at `run_after`. */
export const RUNNABLE_STATES = [S.approved, S.retry_wait] as const satisfies readonly IntentState[];

/** A claim may take these (`running` only once the lease expired): a ticket for one is worth issuing. */
export const LEASABLE_STATES = transitions.lease.from;

/** Work still ahead of the executors: awaiting approval, runnable or leased. */
export const QUEUED_STATES = [AWAITING_APPROVAL, ...RUNNABLE_STATES, LEASED] as const satisfies readonly IntentState[];

/** Stopped where only a person moves it on (operator retry, or resolve for in_doubt). */
export const NEEDS_PERSON_STATES = transitions.operatorRetry.from;

/**
 * Finished: no executor will touch these again (only an operator's retry revives a dead one), so
 * `handoff archive` may write them out and remove them. Never queued, leased or in doubt.
 */
export const FINISHED_STATES = [S.succeeded, S.rejected, S.expired, S.dead] as const satisfies readonly IntentState[];

/** The state a new intent starts in. */
export function initialState(requiresApproval: boolean): IntentState {
  return requiresApproval ? AWAITING_APPROVAL : transitions.approve.to;
}

export function transition<T extends TransitionName>(name: T): (typeof transitions)[T] {
  return transitions[name];
}

/** Source states of a transition as a plain array, ready to bind to `state = ANY($1)`. */
export function fromStates(name: TransitionName): string[] {
  return [...transitions[name].from];
}
