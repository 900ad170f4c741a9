import type { Logger } from 'pino';
import type { ExecutorStore } from './store.ts';

/**
 * Renews a lease every third of its TTL while the effect runs. When a renewal finds the lease is
 * no longer ours (epoch moved on) or cannot renew before expiry, it aborts the connector call:
 * past that point a takeover may already be reconciling.
 *
 * Expiry is judged by the clock on every tick, not by a renewal's answer: in a partition where
 * packets vanish, a renewal's query can hang (no error, no answer) far past the TTL, and waiting for
 * it would let the effect run on with a lease someone else holds. One renewal at a time, so a hung
 * one does not pile up more on a pool that cannot reach Postgres. Once the lease is gone the keeper
 * stops: there is nothing left to renew.
 */
export function keepLease(
  store: Pick<ExecutorStore, 'renewLease'>,
  args: { intentId: string; epoch: number; ttlSeconds: number; log: Logger },
): { signal: AbortSignal; stop(): void; lost(): boolean } {
  const controller = new AbortController();
  const ttlMs = args.ttlSeconds * 1000;
  let expiresAt = Date.now() + ttlMs;
  let lost = false;
  let renewing = false;

  const lose = (reason: string): void => {
    if (lost) return;
    lost = true;
    clearInterval(timer);
    args.log.warn(
      { intentId: args.intentId, epoch: args.epoch, reason },
      'lease lost while the effect ran; aborting the call',
    );
    controller.abort(new Error(reason));
  };

  const tick = (): void => {
    if (lost) return;
    if (Date.now() >= expiresAt) {
      lose('lease expired: could not renew');
      return;
    }
    if (renewing) return;
    renewing = true;
    const startedAt = Date.now();
    store
      .renewLease({ intentId: args.intentId, epoch: args.epoch, ttlSeconds: args.ttlSeconds })
      .then((ok) => {
        // a renewal extends the lease from when it was sent, not from when its answer arrived
        if (ok) expiresAt = Math.max(expiresAt, startedAt + ttlMs);
        else lose('lease lost');
      })
      .catch((err: unknown) => {
        args.log.warn({ err, intentId: args.intentId }, 'lease renewal failed');
        if (Date.now() >= expiresAt) lose('lease expired: could not renew');
      })
      .finally(() => {
        renewing = false;
      });
  };
  const timer = setInterval(tick, Math.max(200, ttlMs / 3));
  timer.unref();
  return {
    signal: controller.signal,
    stop: () => clearInterval(timer),
    lost: () => lost,
  };
}
