import { z } from 'zod';
import { AccountName, ChannelName } from './intent.ts';
import { HostEntry } from './secrets.ts';
import { NotifyPolicy } from './notify.ts';
import { RetentionPolicy } from './retention.ts';
import { BackupPolicy } from './backup.ts';

const RateLimitKey = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}:[^\s:]+$/, 'must be "channel:account", e.g. "x:@antifund"');

export const RateLimit = z.strictObject({
  // below one token a bucket could never grant a take
  capacity: z.number().min(1).max(1_000_000),
  refillPerSecond: z.number().positive().max(1_000_000),
});
export type RateLimit = z.infer<typeof RateLimit>;

export const ApprovalRule = z.strictObject({
  channel: ChannelName,
  account: AccountName.optional(),
  requireApproval: z.boolean(),
});
export type ApprovalRule = z.infer<typeof ApprovalRule>;

/** `$HANDOFF_HOME/policy.json`. Every field has a safe default, so `{}` is a valid policy. */
export const Policy = z.strictObject({
  approval: z
    .strictObject({
      /**
       * `draft_only`: an intent needs a person whenever its connector has an external effect.
       * `rules` may relax or tighten that per channel or channel:account; the most specific wins.
       */
      default: z.enum(['draft_only', 'auto']).default('draft_only'),
      rules: z.array(ApprovalRule).default([]),
      ttlSeconds: z
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(86_400),
      /** A pending intent nobody decided on expires after this long. */
      pendingTtlSeconds: z
        .int()
        .min(60)
        .max(365 * 86_400)
        .default(7 * 86_400),
    })
    .prefault({}),
  rateLimits: z.record(RateLimitKey, RateLimit).default({}),
  retry: z
    .strictObject({
      maxAttempts: z.int().min(1).max(100).default(5),
      baseDelayMs: z.int().min(10).max(3_600_000).default(1000),
      maxDelayMs: z.int().min(10).max(86_400_000).default(300_000),
    })
    .prefault({}),
  lease: z
    .strictObject({
      ttlSeconds: z.number().min(1).max(3600).default(30),
    })
    .prefault({}),
  breaker: z
    .strictObject({
      errorThresholdPercentage: z.int().min(1).max(100).default(50),
      volumeThreshold: z.int().min(1).max(10_000).default(5),
      resetTimeoutMs: z.int().min(100).max(3_600_000).default(30_000),
      rollingCountTimeoutMs: z.int().min(1000).max(3_600_000).default(60_000),
    })
    .prefault({}),
  /**
   * Per-token limits on what one caller may ask of the coordinator, requests a minute: creating
   * intents, and model router calls (/v1/chat/completions and /v1/responses, each). Operator
   * tokens are exempt unless `operatorExempt` is false (decision 33).
   */
  requests: z
    .strictObject({
      createsPerMinute: z.int().min(1).max(1_000_000).default(600),
      routerCallsPerMinute: z.int().min(1).max(1_000_000).default(120),
      operatorExempt: z.boolean().default(true),
    })
    .prefault({}),
  webhook: z
    .strictObject({
      /**
       * `host` or `host:port` (or an address). When set, webhook and deploy calls to any other host
       * are refused. Loopback, private, link-local and unique-local addresses (and the executor's
       * machine and Postgres) are reachable only when named here (docs/architecture.md decision 28).
       */
      allowedHosts: z.array(HostEntry).default([]),
      timeoutMs: z.int().min(100).max(600_000).default(30_000),
    })
    .prefault({}),
  /** Who hears of what needs a person (docs/console.md, "Notifications"). */
  notify: NotifyPolicy.prefault({}),
  /** How long housekeeping keeps logs (never intents, attempts or receipts): docs/operations.md "Retention". */
  retention: RetentionPolicy.prefault({}),
  /** Scheduled backups, taken once by the coordinator; none when absent (docs/operations.md "Backups and restore"). */
  backup: BackupPolicy.optional(),
});
export type Policy = z.infer<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;
