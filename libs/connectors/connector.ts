import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Policy } from '@handoff/contracts';

/** What an executor hands a connector: one approved intent, at one attempt. */
export interface ConnectorIntent<P = unknown> {
  id: string;
  channel: string;
  account: string;
  idempotencyKey: string;
  payload: P;
  createdAt: Date;
  attemptNo: number;
}

export interface ConnectorContext {
  /** Aborted when the executor gives up on the call (shutdown, lease lost). */
  signal: AbortSignal;
  log: Logger;
  /** This account's secrets. Only executors hold them; never log or echo them. */
  credentials: Record<string, unknown> | undefined;
  policy: Policy;
  /**
   * Redacts every credential the executor holds, in every encoding (set by the executor). Connectors
   * apply it with their own account's redaction before they clip a provider's text, so a clipped
   * copy of another account's credential cannot slip past either.
   */
  redact?: (text: string) => string;
  /** For reconcile: when the unfinished attempt began. */
  attemptStartedAt?: Date;
}

export interface ExecuteResult {
  externalId: string;
  url?: string | null;
}

export type ReconcileResult =
  | { status: 'done'; externalId: string; url?: string | null }
  | { status: 'not_done' }
  | { status: 'unknown'; reason: string };

/**
 * One connector per channel. `execute` performs the effect or throws a ConnectorError (errors.ts);
 * `reconcile`, when present, answers "did an earlier, unfinished attempt take effect?" exactly.
 * A connector without reconcile sends a taken-over attempt to `in_doubt` (never guess).
 */
export interface Connector<P = unknown> {
  readonly name: string;
  /** True when the effect is visible outside handoff: needs approval under the draft-only default. */
  readonly externalEffect: boolean;
  readonly payloadSchema: z.ZodType<P>;
  readonly needsCredentials: boolean;
  execute(intent: ConnectorIntent<P>, ctx: ConnectorContext): Promise<ExecuteResult>;
  reconcile?(intent: ConnectorIntent<P>, ctx: ConnectorContext): Promise<ReconcileResult>;
  /**
   * The receiver a (validated) payload's call goes to, `host:port`, for a channel whose payload
   * names it (webhook URLs): the executor's breaker is then `channel:account@host:port`, so one dead
   * receiver pauses only the intents sent to it. Absent, or undefined for this payload: the account
   * fixes the provider, and its breaker is `channel:account` (decision 52).
   */
  breakerTarget?(payload: P): string | undefined;
}
