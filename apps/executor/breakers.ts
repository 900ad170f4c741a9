import CircuitBreaker from 'opossum';
import type { BreakerState, Policy } from '@handoff/contracts';
import { ConnectorError } from '@handoff/connectors';

type Call = () => Promise<unknown>;

interface Entry {
  breaker: CircuitBreaker<[Call], unknown>;
  openedAt: number | null;
}

/**
 * One opossum breaker per `channel:account`. Only failures that say the provider is unhealthy
 * count (retryable and unknown outcomes); a permanent error or a 429 is the caller's or the
 * quota's business, not the provider's health. No opossum timeout: a call it abandons would still
 * be running, and its effect could land unrecorded.
 */
export class BreakerRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #settings: () => Policy['breaker'];

  constructor(settings: () => Policy['breaker']) {
    this.#settings = settings;
  }

  get(key: string): Entry {
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
      const created: Entry = { breaker, openedAt: null };
      breaker.on('open', () => {
        created.openedAt = Date.now();
      });
      breaker.on('close', () => {
        created.openedAt = null;
      });
      entry = created;
      this.#entries.set(key, entry);
    }
    return entry;
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
