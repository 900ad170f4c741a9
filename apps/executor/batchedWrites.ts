import pLimit, { type LimitFunction } from 'p-limit';
import { groupRequests } from '@handoff/db';
import type { AttemptRequest, RateLimited, RecordedAttempt, SuccessReceipt } from './store.ts';

/** The statements the grouped writes are made of (store.ts binds them to the executor's db and id). */
export interface WriteStatements {
  /** Attempts for many intents in one statement; those whose bucket has no token at hand come back in `limited`. */
  recordAttempts(
    requests: AttemptRequest[],
  ): Promise<{ recorded: Map<string, RecordedAttempt>; limited: AttemptRequest[] }>;
  /** One attempt that waits its turn for its bucket's token. */
  recordAttempt(request: AttemptRequest): Promise<RecordedAttempt | RateLimited | null>;
  /** Success receipts for many intents in one statement: the ids of the intents whose receipt was written. */
  appendSuccessReceipts(receipts: SuccessReceipt[]): Promise<Set<string>>;
}

/**
 * The two writes every intent makes around its effect, the write-ahead attempt and the success
 * receipt, grouped across the intents in flight (group commit, see groupRequests): requests made
 * while earlier groups are being written go to Postgres together, as one statement. Each intent
 * still waits only for its own write, and a slow effect never holds up another's receipt (it simply
 * lands in a later group). Every row stays fenced by its own epoch, so grouping changes no guarantee.
 */
export interface BatchedWrites {
  recordAttempt(request: AttemptRequest): Promise<RecordedAttempt | RateLimited | null>;
  /** True when the receipt was written; false when a newer epoch holds the intent. */
  appendSuccessReceipt(receipt: SuccessReceipt): Promise<boolean>;
}

const MAX_BATCH = 200;

export function createBatchedWrites(statements: WriteStatements): BatchedWrites {
  const LIMITED = Symbol('limited');
  const recordAttemptGrouped = groupRequests<AttemptRequest, RecordedAttempt | typeof LIMITED | null>(
    async (requests) => {
      const { recorded, limited } = await statements.recordAttempts([...requests]);
      const limitedIds = new Set(limited.map((r) => r.intentId));
      return requests.map((r) => recorded.get(r.intentId) ?? (limitedIds.has(r.intentId) ? LIMITED : null));
    },
    { maxBatch: MAX_BATCH },
  );
  // A limited key takes its token one caller at a time, right before that caller's effect and in
  // its own transaction (a refused attempt hands its token back): a token taken for a group would
  // release the group's calls together, in a burst the bucket never allowed. Within this executor
  // the callers of one key queue here rather than in Postgres: each would otherwise hold a pooled
  // connection while it waits for the bucket's row lock, and a busy key could take every
  // connection from the receipts and lease renewals that must not wait.
  const tokenLines = new Map<string, LimitFunction>();
  const recordOne = async (request: AttemptRequest): Promise<RecordedAttempt | RateLimited | null> => {
    const grouped = await recordAttemptGrouped(request);
    if (grouped !== LIMITED) return grouped;
    let line = tokenLines.get(request.rateKey);
    if (!line) tokenLines.set(request.rateKey, (line = pLimit(1)));
    return line(() => statements.recordAttempt(request));
  };

  const appendReceiptGrouped = groupRequests<SuccessReceipt, boolean>(
    async (batch) => {
      const written = await statements.appendSuccessReceipts([...batch]);
      return batch.map((r) => written.has(r.fence.intentId));
    },
    { maxBatch: MAX_BATCH },
  );

  return { recordAttempt: recordOne, appendSuccessReceipt: appendReceiptGrouped };
}
