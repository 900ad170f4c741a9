import { z } from 'zod';
import { Gate } from './gate.ts';
import { Intent, Receipt } from './intent.ts';
import { IsolationLevel } from './agent.ts';
import { RouterNodeStatus } from './router.ts';

/**
 * GET /v1/live: what is live right now. Schemas, not only types, so that a client (the CLI) can
 * check the answer it gets against the same definition the coordinator builds it from.
 */

export const BreakerState = z.object({
  key: z.string(),
  state: z.enum(['closed', 'open', 'half_open']),
  failures: z.number(),
  openedAt: z.string().nullable(),
});
export type BreakerState = z.infer<typeof BreakerState>;

export const ExecutorStatus = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number(),
  startedAt: z.string(),
  heartbeatAt: z.string(),
  stale: z.boolean(),
  status: z.string(),
  channels: z.array(z.string()),
  breakers: z.array(BreakerState),
  localGateEnabled: z.boolean(),
  inFlight: z.number(),
  /** handoff's version on the executor; null for one older than the fleet policy (migration 006). */
  version: z.string().nullable().default(null),
  /** The schema version its code expects. */
  schemaVersion: z.number().nullable().default(null),
  /** The fleet policy version it applies; null while it follows its own policy.json alone. */
  policyVersion: z.number().nullable().default(null),
  /** The executor's clock minus the database's, at its last heartbeat (leases never use it). */
  clockSkewMs: z.number().nullable().default(null),
});
export type ExecutorStatus = z.infer<typeof ExecutorStatus>;

export const RateLimitHeadroom = z.object({
  key: z.string(),
  capacity: z.number(),
  refillPerSecond: z.number(),
  tokens: z.number(),
  blockedUntil: z.string().nullable(),
});
export type RateLimitHeadroom = z.infer<typeof RateLimitHeadroom>;

export const QueueDepth = z.object({
  channel: z.string(),
  pendingApproval: z.number(),
  ready: z.number(),
  scheduled: z.number(),
  running: z.number(),
});
export type QueueDepth = z.infer<typeof QueueDepth>;

/** How the agent's bash commands are isolated, with the warning shown when it is weaker than a sandbox. */
export const AgentSandboxStatus = z.object({
  isolation: IsolationLevel,
  isolationDetail: z.string(),
  /** Isolation none, a shared network, or commands refused; null when nothing is weakened. */
  warning: z.string().nullable(),
});
export type AgentSandboxStatus = z.infer<typeof AgentSandboxStatus>;

const StuckIntent = Intent.pick({
  id: true,
  channel: true,
  account: true,
  idempotencyKey: true,
  lastError: true,
  updatedAt: true,
});

/** The newest policy the coordinator published to the fleet (decision 89). */
export const FleetPolicyStatus = z.object({
  version: z.number(),
  sha256: z.string(),
  publishedAt: z.string(),
});
export type FleetPolicyStatus = z.infer<typeof FleetPolicyStatus>;

/** GET /v1/live and `handoff live`. */
export const LiveReport = z.object({
  generatedAt: z.string(),
  /** The fleet's policy; an executor whose policyVersion differs applies another. Null before any is published. */
  policy: FleetPolicyStatus.nullable().default(null),
  gates: z.array(Gate),
  gatesClosed: z.array(z.string()),
  executors: z.array(ExecutorStatus),
  breakers: z.array(BreakerState.extend({ executorId: z.string() })),
  rateLimits: z.array(RateLimitHeadroom),
  queues: z.array(QueueDepth),
  inFlight: z.array(
    Intent.pick({
      id: true,
      channel: true,
      account: true,
      idempotencyKey: true,
      leaseOwner: true,
      leaseEpoch: true,
      leaseExpiresAt: true,
      attemptCount: true,
    }),
  ),
  recentReceipts: z.array(Receipt.extend({ channel: z.string(), account: z.string(), idempotencyKey: z.string() })),
  dead: z.array(StuckIntent),
  inDoubt: z.array(StuckIntent),
  counts: z.record(z.string(), z.number()),
  /** The model router's nodes (state, breaker, latency, last error); absent when no router runs. */
  modelNodes: z.array(RouterNodeStatus).optional(),
  /** The agent loop's sandbox; absent when no agent runs in this coordinator. */
  agent: AgentSandboxStatus.optional(),
});
export type LiveReport = z.infer<typeof LiveReport>;
