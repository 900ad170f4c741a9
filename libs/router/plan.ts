import { ApiError } from '@handoff/contracts';
import type { FleetConfig } from '@handoff/contracts';
import { sameModel, serversOf } from './fleet.ts';
import type { Server } from './fleet.ts';

/**
 * Which nodes may serve a request, in the order they will be tried: a pure function of the request
 * and a snapshot of the fleet (its health and the free memory read for this request), so that every
 * routing rule of docs/router.md "Choosing a node" can be checked without a node or a clock.
 */

/** Why a candidate was passed over or left: the value of `x-handoff-escalated`. */
export type SkipReason =
  | 'context_window'
  | 'quarantined'
  | 'breaker_open'
  | 'memory_pressure'
  | 'context_overflow'
  | 'rate_limited'
  | 'connect_failed'
  | 'first_byte_timeout'
  | 'idle_timeout'
  | 'dropped'
  | 'upstream_error'
  | 'unsupported';

/** A node passed over (by the plan) or left (by dispatch), with why; refusals list them in `details`. */
export interface Attempted {
  node: string;
  reason: SkipReason;
  message?: string;
}

/** Why a node may not take a request now (its health), or null when it may. */
export type Availability = 'quarantined' | 'breaker_open' | null;

/** What the plan reads of the fleet at one moment. */
export interface FleetSnapshot {
  fleet: FleetConfig;
  /** By node id; a node that is not here has no runtime yet and is no candidate. */
  availability: ReadonlyMap<string, Availability>;
  /** Free memory in GB, or null when it could not be read (local nodes are then not skipped). */
  freeGb: number | null;
}

export interface RouteRequest {
  /** The model name the client asked for (an id or an alias). */
  model: string;
  /** Tokens the request needs: the prompt with its margin plus the answer's allowance (tokensNeeded). */
  need: number;
}

export type Plan =
  | { ok: true; candidates: Server[]; skipped: Attempted[] }
  /** Nothing can take the request: 404 unknown model, 400 too large for every window, 503 none available. */
  | { ok: false; refusal: ApiError };

/**
 * The servers of `model` in file order, then those of the models after it on the escalation chain
 * (the whole chain when the model is not on it), each node-and-model once; empty when no node
 * serves `model`.
 */
export function escalationPath(fleet: FleetConfig, model: string): Server[] {
  const primary = serversOf(fleet, model);
  if (primary.length === 0) return [];
  const position = fleet.escalation.findIndex((name) => primary.some((s) => sameModel(s.model, name)));
  const chain = position >= 0 ? fleet.escalation.slice(position + 1) : fleet.escalation;
  const ordered: Server[] = [...primary];
  for (const name of chain) {
    for (const s of serversOf(fleet, name)) {
      if (!ordered.some((o) => o.node.id === s.node.id && o.model.id === s.model.id)) ordered.push(s);
    }
  }
  return ordered;
}

/**
 * The candidates for `request`, in order, and those left out with the reason: a context window
 * smaller than `need`, a quarantined node, an open breaker, a local node under the memory floor
 * (checked in that order). A plan with no candidate is a refusal.
 */
export function plan(request: RouteRequest, snapshot: FleetSnapshot): Plan {
  const { model, need } = request;
  const { fleet, availability, freeGb } = snapshot;
  const path = escalationPath(fleet, model);
  if (path.length === 0) {
    return {
      ok: false,
      refusal: new ApiError(
        404,
        'not_found',
        `model ${JSON.stringify(model)} is not served by any node; GET /v1/models lists them`,
      ),
    };
  }
  const candidates: Server[] = [];
  const skipped: Attempted[] = [];
  for (const server of path) {
    const down = availability.get(server.node.id);
    if (down === undefined) continue;
    if (need > server.model.contextWindow) {
      skipped.push({
        node: server.node.id,
        reason: 'context_window',
        message: `needs ${need} tokens, ${server.model.id} has ${server.model.contextWindow}`,
      });
      continue;
    }
    if (down) {
      skipped.push({ node: server.node.id, reason: down });
      continue;
    }
    if (server.node.local && freeGb !== null && freeGb < fleet.thresholds.memoryFloorGb) {
      skipped.push({
        node: server.node.id,
        reason: 'memory_pressure',
        message: `${freeGb.toFixed(1)} GB free, floor ${fleet.thresholds.memoryFloorGb} GB`,
      });
      continue;
    }
    candidates.push(server);
  }
  if (candidates.length > 0) return { ok: true, candidates, skipped };
  if (skipped.every((s) => s.reason === 'context_window')) {
    const message = `the request needs ${need} tokens (prompt with margin plus max_tokens); no model on the escalation path has a context window that large`;
    return { ok: false, refusal: new ApiError(400, 'bad_request', message, { skipped }) };
  }
  return {
    ok: false,
    refusal: new ApiError(503, 'unavailable', `no node can take model ${JSON.stringify(model)} now`, { skipped }),
  };
}

/** Whether a request to `fleet` needs a reading of free memory (only local nodes have a floor). */
export function readsMemory(fleet: FleetConfig): boolean {
  return fleet.nodes.some((node) => node.local);
}
