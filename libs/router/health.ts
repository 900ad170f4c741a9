import CircuitBreaker from 'opossum';
import type { FleetNode, FleetThresholds, NodeHealthState, RouterNodeStatus } from '@handoff/contracts';

/** The router's notion of time for health decisions; tests pass a fake one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * What the router knows about one node: passive counts of request outcomes, the quarantine that
 * follows `quarantineAfterFailures` consecutive failures, the next active probe, and an opossum
 * breaker that opens on a burst of failures (the quarantine is for a node that stays down).
 */
export class NodeHealth {
  node: FleetNode;
  state: NodeHealthState = 'healthy';
  consecutiveFailures = 0;
  latencyMs: number | null = null;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  lastProbeAt: number | null = null;
  nextProbeAt: number;
  readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private readonly clock: Clock;

  constructor(node: FleetNode, clock: Clock) {
    this.node = node;
    this.clock = clock;
    this.nextProbeAt = clock.now();
    this.breaker = new CircuitBreaker(async (attempt: () => Promise<unknown>) => attempt(), {
      timeout: false,
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      resetTimeout: 30_000,
      rollingCountTimeout: 10_000,
      name: node.id,
    });
  }

  get breakerState(): RouterNodeStatus['breaker'] {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  /** Why this node may not take a request now, or null. */
  unavailable(): 'quarantined' | 'breaker_open' | null {
    if (this.state === 'quarantined') return 'quarantined';
    if (this.breaker.opened) return 'breaker_open';
    return null;
  }

  recordSuccess(latencyMs: number): void {
    this.consecutiveFailures = 0;
    this.latencyMs = Math.round(latencyMs);
  }

  recordFailure(message: string, thresholds: FleetThresholds): void {
    this.consecutiveFailures += 1;
    this.lastError = message;
    this.lastErrorAt = this.clock.now();
    if (this.state === 'healthy' && this.consecutiveFailures >= thresholds.quarantineAfterFailures) {
      this.state = 'quarantined';
      this.nextProbeAt = this.clock.now() + thresholds.reprobeSeconds * 1000;
    }
  }

  /** An active probe's outcome: success reinstates a quarantined node; failure counts like a request's. */
  recordProbe(ok: boolean, latencyMs: number, error: string | null, thresholds: FleetThresholds): void {
    const now = this.clock.now();
    this.lastProbeAt = now;
    this.nextProbeAt = now + thresholds.reprobeSeconds * 1000;
    if (ok) {
      this.latencyMs = Math.round(latencyMs);
      if (this.state === 'quarantined') {
        this.state = 'healthy';
        this.consecutiveFailures = 0;
      }
      return;
    }
    this.recordFailure(error ?? 'probe failed', thresholds);
    this.nextProbeAt = now + thresholds.reprobeSeconds * 1000;
  }

  /** What GET /v1/router/nodes and /v1/live show: no user-info of the node's URL, in the URL or an error. */
  status(): RouterNodeStatus {
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: this.node.id,
      kind: this.node.kind,
      baseUrl: withoutUserInfo(this.node.baseUrl),
      local: this.node.local,
      models: this.node.models.flatMap((m) => [m.id, ...m.aliases]),
      state: this.state,
      breaker: this.breakerState,
      consecutiveFailures: this.consecutiveFailures,
      latencyMs: this.latencyMs,
      lastError: this.lastError === null ? null : this.lastError.replace(USER_INFO, '//'),
      lastErrorAt: iso(this.lastErrorAt),
      lastProbeAt: iso(this.lastProbeAt),
      nextProbeAt: iso(this.nextProbeAt),
    };
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}

/** `//user:pass@` in a URL or a message that quotes one. */
const USER_INFO = /\/\/[^/\s@]*@/g;

/** A node URL as shown to API callers: user-info (`user:pass@`) removed, since it may be a credential. */
export function withoutUserInfo(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(USER_INFO, '//');
  }
}
