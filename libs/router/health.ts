import CircuitBreaker from 'opossum';
import type { FleetNode, FleetThresholds, NodeHealthState, RouterNodeStatus } from '@handoff/contracts';
import type { NodeStateRecord } from './nodeStateStore.ts';

/** The router's notion of time for health decisions; tests pass a fake one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** How long an open breaker waits before it lets one request through (half-open). */
const BREAKER_RESET_MS = 30_000;

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
  /** Wall-clock ms when the quarantine in force began (router_node_state.quarantined_at), or null. */
  quarantinedAt: number | null = null;
  /** Wall-clock ms when the breaker last opened, or null. */
  breakerOpenedAt: number | null = null;
  /**
   * An open breaker taken on at start stays open until this wall-clock ms (what was left of its
   * reset timeout), then the node takes requests again: opossum cannot open for less than a whole one.
   */
  private restoredOpenUntil: number | null = null;
  /**
   * Called after each change worth keeping (quarantine begins or ends, the breaker opens, half-opens
   * or closes): the runtime writes it to router_node_state. Not called for what `adopt` sets.
   */
  onChange: ((health: NodeHealth) => void) | null = null;
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
      resetTimeout: BREAKER_RESET_MS,
      rollingCountTimeout: 10_000,
      name: node.id,
    });
    this.breaker.on('open', () => {
      this.breakerOpenedAt = Date.now();
      this.changed();
    });
    this.breaker.on('halfOpen', () => this.changed());
    this.breaker.on('close', () => this.changed());
  }

  private restoredOpen(): boolean {
    if (this.restoredOpenUntil === null) return false;
    if (Date.now() < this.restoredOpenUntil) return true;
    this.restoredOpenUntil = null;
    return false;
  }

  private changed(): void {
    this.onChange?.(this);
  }

  /** What router_node_state keeps of this node. */
  record(): NodeStateRecord {
    const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
    return {
      nodeId: this.node.id,
      quarantined: this.state === 'quarantined',
      quarantinedAt: this.state === 'quarantined' ? date(this.quarantinedAt) : null,
      reason: this.lastError,
      consecutiveFailures: this.consecutiveFailures,
      breaker: this.breakerState,
      breakerOpenedAt: date(this.breakerOpenedAt),
    };
  }

  /**
   * Takes on a state on record: at start (`restart`: the breaker too, and a quarantined node is
   * probed at once, since a probe is cheaper than a client's request timing out), or another
   * coordinator's decision (the quarantine only: a breaker counts this process's own traffic).
   */
  adopt(saved: NodeStateRecord, how: { restart: boolean; reprobeMs: number }): void {
    const now = this.clock.now();
    if (saved.quarantined && this.state === 'healthy') {
      this.state = 'quarantined';
      this.nextProbeAt = how.restart ? now : now + how.reprobeMs;
    } else if (!saved.quarantined && this.state === 'quarantined') {
      this.state = 'healthy';
    }
    this.quarantinedAt = saved.quarantined ? (saved.quarantinedAt?.getTime() ?? Date.now()) : null;
    this.consecutiveFailures = saved.consecutiveFailures;
    if (saved.reason !== null && this.lastError === null) this.lastError = saved.reason;
    if (!how.restart || saved.breaker !== 'open' || saved.breakerOpenedAt === null) return;
    // open for what is left of its reset timeout, no longer
    const until = saved.breakerOpenedAt.getTime() + BREAKER_RESET_MS;
    if (until > Date.now()) {
      this.restoredOpenUntil = until;
      this.breakerOpenedAt = saved.breakerOpenedAt.getTime();
    }
  }

  get breakerState(): RouterNodeStatus['breaker'] {
    if (this.breaker.opened || this.restoredOpen()) return 'open';
    if (this.breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  /** Why this node may not take a request now, or null. */
  unavailable(): 'quarantined' | 'breaker_open' | null {
    if (this.state === 'quarantined') return 'quarantined';
    if (this.breaker.opened || this.restoredOpen()) return 'breaker_open';
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
      this.quarantinedAt = Date.now();
      this.nextProbeAt = this.clock.now() + thresholds.reprobeSeconds * 1000;
      this.changed();
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
        this.quarantinedAt = null;
        this.changed();
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
