import CircuitBreaker from 'opossum';
import type { BreakerState, Policy } from '@handoff/contracts';
import { ConnectorError } from '@handoff/connectors';

type Call = () => Promise<unknown>;

interface Entry {
  breaker: CircuitBreaker<[Call], unknown>;
  openedAt: number | null;
  usedAt: number;
}

/**
 * A breaker's key: `channel:account`, or `channel:account@host:port` when the connector says the
 * payload names its receiver (`Connector.breakerTarget`, decision 52). Rate buckets stay
 * `channel:account` whatever the breaker key.
 */
export function breakerKey(channel: string, account: string, target: string | undefined): string {
  return target === undefined ? `${channel}:${account}` : `${channel}:${account}@${target}`;
}

/**
 * One opossum breaker per breaker key (see breakerKey). Only failures that say the provider is
 * unhealthy count (retryable and unknown outcomes); a permanent error or a 429 is the caller's or
 * the quota's business, not the provider's health. No opossum timeout: a call it abandons would
 * still be running, and its effect could land unrecorded.
 */
export class BreakerRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #settings: () => Policy['breaker'];
  #prunedAt = Date.now();

  constructor(settings: () => Policy['breaker']) {
    this.#settings = settings;
  }

  get(key: string): Entry {
    const now = Date.now();
    this.#prune(now);
    let entry = this.#entries.get(key);
    if (!entry) {
      const s = this.#settings();
      const breaker = new CircuitBreaker<[Call], unknown>((call: Call) => call(), {
        timeout: false,
        errorThresholdPercentage: s.errorThresholdPercentage,
        volumeThreshold: s.volumeThreshold,
        resetTimeout: s.resetTimeoutMs,
        rollingCountTimeout: s.rollingCountTimeoutMs,
        errorFilter: (err: unknown) =>
          err instanceof ConnectorError && (err.errorClass === 'permanent' || err.errorClass === 'rate_limited'),
      });
      const created: Entry = { breaker, openedAt: null, usedAt: now };
      breaker.on('open', () => {
        created.openedAt = Date.now();
      });
      breaker.on('close', () => {
        created.openedAt = null;
      });
      entry = created;
      this.#entries.set(key, entry);
    }
    entry.usedAt = now;
    return entry;
  }

  /**
   * Drops breakers nobody has used for a whole rolling window and that are not holding calls back:
   * their counts have rolled out, so a fresh one behaves the same. Payloads name receivers
   * (decision 52), so without this every host ever called would keep a breaker, its timers and a
   * row in the heartbeat. An open or half-open breaker stays until a window after its trial was due.
   */
  #prune(now: number): void {
    const s = this.#settings();
    if (now - this.#prunedAt < s.rollingCountTimeoutMs) return;
    this.#prunedAt = now;
    for (const [key, e] of this.#entries) {
      const quietSince = Math.max(e.usedAt, e.openedAt === null ? 0 : e.openedAt + s.resetTimeoutMs);
      if (e.breaker.opened || now - quietSince <= s.rollingCountTimeoutMs) continue;
      e.breaker.shutdown();
      this.#entries.delete(key);
    }
  }

  /** When an open breaker lets a trial call through; null when it is not open. */
  retryAt(key: string): Date | null {
    const entry = this.get(key);
    if (!entry.breaker.opened) return null;
    const opened = entry.openedAt ?? Date.now();
    return new Date(Math.max(Date.now() + 50, opened + this.#settings().resetTimeoutMs));
  }

  async fire<T>(key: string, call: () => Promise<T>): Promise<T> {
    return (await this.get(key).breaker.fire(call)) as T;
  }

  snapshot(): BreakerState[] {
    return [...this.#entries].map(([key, e]) => ({
      key,
      state: e.breaker.opened ? 'open' : e.breaker.halfOpen ? 'half_open' : 'closed',
      failures: e.breaker.stats.failures,
      openedAt: e.openedAt ? new Date(e.openedAt).toISOString() : null,
    }));
  }

  shutdown(): void {
    for (const e of this.#entries.values()) e.breaker.shutdown();
  }
}

export function isOpenCircuitError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'EOPENBREAKER';
}
