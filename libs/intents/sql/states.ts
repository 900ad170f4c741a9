import { sql, type RawBuilder } from 'kysely';
import type { IntentState } from '@handoff/contracts';

/*
 * The state machine's named states and sets, written into SQL as literals rather than bound
 * parameters: the statement text stays what a reader (and the planner, matching the partial
 * indexes' `WHERE state = 'running'` and `WHERE state IN ('approved', 'retry_wait')`) expects.
 * Only the contract's own values pass through here, never input.
 */

/** One state as an SQL literal: `i.state = ${stateLiteral(LEASED)}`. */
export function stateLiteral(state: IntentState): RawBuilder<IntentState> {
  return sql.lit(state);
}

/** A set of states as an SQL list: `i.state IN (${stateList(RUNNABLE_STATES)})`. */
export function stateList(states: readonly IntentState[]): RawBuilder<unknown> {
  return sql.join(states.map((s) => sql.lit(s)));
}
