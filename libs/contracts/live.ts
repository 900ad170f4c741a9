import type { Gate } from './gate.ts';
import type { Intent, Receipt } from './intent.ts';
import type { IsolationLevel } from './agent.ts';
import type { RouterNodeStatus } from './router.ts';

export interface BreakerState {
  key: string;
  state: 'closed' | 'open' | 'half_open';
  failures: number;
  openedAt: string | null;
}

export interface ExecutorStatus {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  stale: boolean;
  status: string;
  channels: string[];
  breakers: BreakerState[];
  localGateEnabled: boolean;
  inFlight: number;
}

export interface RateLimitHeadroom {
  key: string;
  capacity: number;
  refillPerSecond: number;
  tokens: number;
  blockedUntil: string | null;
}

export interface QueueDepth {
  channel: string;
  pendingApproval: number;
  ready: number;
  scheduled: number;
  running: number;
}

/** GET /v1/live and `handoff live`. */
export interface LiveReport {
  generatedAt: string;
  gates: Gate[];
  gatesClosed: string[];
  executors: ExecutorStatus[];
  breakers: (BreakerState & { executorId: string })[];
  rateLimits: RateLimitHeadroom[];
  queues: QueueDepth[];
  inFlight: Pick<Intent, 'id' | 'channel' | 'account' | 'idempotencyKey' | 'leaseOwner' | 'leaseEpoch' | 'leaseExpiresAt' | 'attemptCount'>[];
  recentReceipts: (Receipt & { channel: string; account: string; idempotencyKey: string })[];
  dead: Pick<Intent, 'id' | 'channel' | 'account' | 'idempotencyKey' | 'lastError' | 'updatedAt'>[];
  inDoubt: Pick<Intent, 'id' | 'channel' | 'account' | 'idempotencyKey' | 'lastError' | 'updatedAt'>[];
  counts: Record<string, number>;
  /** The model router's nodes (state, breaker, latency, last error); absent when no router runs. */
  modelNodes?: RouterNodeStatus[];
  /** The agent loop's sandbox; absent when no agent runs in this coordinator. */
  agent?: AgentSandboxStatus;
}

/** How the agent's bash commands are isolated, with the warning shown when it is weaker than a sandbox. */
export interface AgentSandboxStatus {
  isolation: IsolationLevel;
  isolationDetail: string;
  /** Isolation none, a shared network, or commands refused; null when nothing is weakened. */
  warning: string | null;
}
