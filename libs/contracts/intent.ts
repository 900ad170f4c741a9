import { z } from 'zod';

/**
 * Postgres stores neither a NUL character (in text or jsonb) nor an unpaired UTF-16 surrogate (jsonb
 * refuses the `\ud800` escape JSON.stringify writes for one): such input is refused here, naming the
 * field, instead of failing the insert with a 500.
 */
export const UNSTORABLE_TEXT = 'must not contain NUL characters or unpaired UTF-16 surrogates';
export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && s.isWellFormed();
}

/** Deeper JSON than this is refused: Postgres's jsonb parser and JSON.stringify both recurse. */
export const MAX_JSON_DEPTH = 64;

type JsonPath = (string | number)[];
interface JsonProblem {
  path: JsonPath;
  message: string;
}

/** A value on findInJson's stack: its depth, and where it sits (the path is built only for a problem). */
interface JsonFrame {
  v: unknown;
  depth: number;
  parent: JsonFrame | null;
  key: string | number | null;
}

function pathOf(frame: JsonFrame): JsonPath {
  const path: JsonPath = [];
  for (let f: JsonFrame | null = frame; f !== null && f.key !== null; f = f.parent) path.push(f.key);
  return path.reverse();
}

type JsonCheck = (v: unknown, depth: number, key?: string) => string | null;

/**
 * The first problem `check` finds in a JSON value, visiting every value (and key, with `key` set)
 * with its depth; a problem gets the path of where it was found. Walks without recursion, so that it
 * can vet what JSON.stringify and Postgres's jsonb parser (both recursive) would overflow on, and
 * builds no path unless there is a problem (only objects and arrays get a stack entry), so that a
 * body of many small values costs little. `maxValues` stops the walk at the value that passes it.
 */
function findInJson(value: unknown, check: JsonCheck, maxValues = Infinity): JsonProblem | null {
  const rootProblem = check(value, 0);
  if (rootProblem) return { path: [], message: rootProblem };
  if (value === null || typeof value !== 'object') return null;
  const stack: JsonFrame[] = [{ v: value, depth: 0, parent: null, key: null }];
  let seen = 1;
  const visit = (parent: JsonFrame, child: unknown, key: string | number, depth: number): JsonProblem | null => {
    const message = ++seen > maxValues ? `holds more than ${maxValues} JSON values` : check(child, depth);
    if (message) return { path: [...pathOf(parent), key], message };
    if (child !== null && typeof child === 'object') stack.push({ v: child, depth, parent, key });
    return null;
  };
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.v;
    const depth = frame.depth + 1;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const problem = visit(frame, v[i], i, depth);
        if (problem) return problem;
      }
    } else {
      for (const k of Object.keys(v as object)) {
        const keyProblem = check(k, depth, k);
        if (keyProblem) return { path: [...pathOf(frame), k], message: keyProblem };
        const problem = visit(frame, (v as Record<string, unknown>)[k], k, depth);
        if (problem) return problem;
      }
    }
  }
  return null;
}

const TOO_DEEP = `nested deeper than ${MAX_JSON_DEPTH} levels`;

function firstProblem(value: unknown, check: JsonCheck, maxValues?: number): JsonProblem | null {
  const problem = findInJson(value, check, maxValues);
  // a path too deep is named down to the level that may not be passed
  if (problem?.message === TOO_DEEP) problem.path = problem.path.slice(0, MAX_JSON_DEPTH);
  return problem;
}

/**
 * The first problem in a JSON value that Postgres could not store as jsonb: a string or key with NUL
 * or an unpaired surrogate, or nesting deeper than MAX_JSON_DEPTH.
 */
export function unstorableJson(value: unknown): JsonProblem | null {
  return firstProblem(value, (v, depth, key) => {
    if (key !== undefined) return isStorableText(key) ? null : `key ${UNSTORABLE_TEXT}`;
    if (typeof v === 'string' && !isStorableText(v)) return UNSTORABLE_TEXT;
    return depth > MAX_JSON_DEPTH ? TOO_DEEP : null;
  });
}

/** A zod refinement that refuses JSON nested deeper than MAX_JSON_DEPTH, naming where. */
export function refuseDeepJson(value: unknown, ctx: z.RefinementCtx): void {
  refuseDeepOrLargeJson(Infinity)(value, ctx);
}

/**
 * A zod refinement that refuses JSON nested deeper than MAX_JSON_DEPTH or holding more than
 * `maxValues` values (each string, number, object, ... counts one), naming where. Validating,
 * measuring and re-serialising a body costs time on the event loop per value, not per byte.
 */
export function refuseDeepOrLargeJson(maxValues: number): (value: unknown, ctx: z.RefinementCtx) => void {
  return (value, ctx) => {
    const problem = firstProblem(
      value,
      (_v, depth, key) => (key === undefined && depth > MAX_JSON_DEPTH ? TOO_DEEP : null),
      maxValues,
    );
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  };
}

/** A JSON object that Postgres can store as jsonb (see unstorableJson). */
export const StorableJsonObject = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = unstorableJson(value);
  if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
});

/** Every state an intent can be in. The transitions live in libs/intents/stateMachine.ts. */
export const IntentState = z.enum([
  'pending_approval',
  'approved',
  'running',
  'retry_wait',
  'succeeded',
  'rejected',
  'expired',
  'dead',
  'in_doubt',
]);
export type IntentState = z.infer<typeof IntentState>;

export const ChannelName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a lower-case connector name such as "webhook"');

export const AccountName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s:]+$/, 'must not contain spaces or ":"')
  .refine(isStorableText, UNSTORABLE_TEXT);

export const IdempotencyKey = z.string().min(1).max(255).refine(isStorableText, UNSTORABLE_TEXT);

export const CreateIntentBody = z.strictObject({
  channel: ChannelName,
  account: AccountName.default('default'),
  payload: StorableJsonObject,
  idempotencyKey: IdempotencyKey,
  requiresApproval: z.boolean().optional(),
  notBefore: z.iso.datetime({ offset: true }).optional(),
  maxAttempts: z.int().min(1).max(100).optional(),
});
export type CreateIntentBody = z.infer<typeof CreateIntentBody>;

export const Intent = z.object({
  id: z.uuid(),
  state: IntentState,
  channel: z.string(),
  account: z.string(),
  idempotencyKey: z.string(),
  payload: z.record(z.string(), z.unknown()),
  payloadHash: z.string(),
  requiresApproval: z.boolean(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  notBefore: z.string().nullable(),
  runAfter: z.string().nullable(),
  approvedBy: z.string().nullable(),
  approvedAt: z.string().nullable(),
  approvalExpiresAt: z.string().nullable(),
  attemptCount: z.int(),
  maxAttempts: z.int(),
  leaseOwner: z.string().nullable(),
  leaseEpoch: z.int(),
  leaseExpiresAt: z.string().nullable(),
  lastError: z.string().nullable(),
  stateReason: z.string().nullable(),
});
export type Intent = z.infer<typeof Intent>;

/**
 * How an attempt ended (`attempts.outcome`; null while it is open): the effect was done, or
 * reconcile found it done or not done after a takeover; it failed and will be retried, or ended the
 * intent dead or in doubt; or the lease was given back before the call (breaker open, provider
 * rate limit), burning no attempt.
 */
export const AttemptOutcome = z.enum([
  'succeeded',
  'reconciled_done',
  'reconciled_not_done',
  'retryable',
  'dead',
  'in_doubt',
  'breaker_open',
  'rate_limited',
]);
export type AttemptOutcome = z.infer<typeof AttemptOutcome>;

export const Attempt = z.object({
  id: z.string(),
  intentId: z.uuid(),
  attemptNo: z.int(),
  leaseEpoch: z.int(),
  executorId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  outcome: AttemptOutcome.nullable(),
  errorClass: z.string().nullable(),
  errorMessage: z.string().nullable(),
});
export type Attempt = z.infer<typeof Attempt>;

export const ReceiptKind = z.enum(['success', 'failure']);
export const Receipt = z.object({
  id: z.string(),
  intentId: z.uuid(),
  attemptNo: z.int().nullable(),
  leaseEpoch: z.int().nullable(),
  kind: ReceiptKind,
  externalId: z.string().nullable(),
  url: z.string().nullable(),
  errorClass: z.string().nullable(),
  errorMessage: z.string().nullable(),
  executorId: z.string().nullable(),
  source: z.enum(['execute', 'reconcile', 'operator']),
  createdAt: z.string(),
});
export type Receipt = z.infer<typeof Receipt>;

export const IntentDetail = Intent.extend({
  attempts: z.array(Attempt),
  receipts: z.array(Receipt),
  approvals: z.array(
    z.object({
      decision: z.enum(['approve', 'reject']),
      actor: z.string(),
      reason: z.string().nullable(),
      payloadHash: z.string(),
      expiresAt: z.string().nullable(),
      createdAt: z.string(),
    }),
  ),
});
export type IntentDetail = z.infer<typeof IntentDetail>;

/** The start of an intent id, as the CLI's short ids give it: 4 to 32 hex digits, dashes anywhere. */
export const IdPrefix = z
  .string()
  .max(36)
  .regex(/^[0-9a-fA-F-]*$/, 'must be hex digits (and dashes) from the start of an id')
  .transform((s) => s.replaceAll('-', '').toLowerCase())
  .refine((hex) => hex.length >= 4 && hex.length <= 32, 'must hold 4 to 32 hex digits');

/** The lowest and highest UUID that start with `hex` (see IdPrefix): a range the primary key can serve. */
export function idPrefixRange(hex: string): [string, string] {
  const uuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return [uuid(hex.padEnd(32, '0')), uuid(hex.padEnd(32, 'f'))];
}

/**
 * Where a page of a list ends: the last row's `created_at` (microseconds, UTC, as Postgres writes it)
 * and id. Lists run newest first by (created_at, id), so the next page is every row before that pair.
 */
export interface ListPosition {
  createdAt: string;
  id: string;
}

const CursorPosition = z.strictObject({
  createdAt: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  id: z.uuid(),
});

/** The opaque `cursor` a list answers with as `nextCursor` (base64url JSON; callers pass it back as is). */
export function encodeListCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify({ createdAt: position.createdAt, id: position.id })).toString('base64url');
}

/** `?cursor=`: a `nextCursor` of an earlier page; anything else is a 400 naming the field. */
export const ListCursor = z
  .string()
  .max(200)
  .transform((s, ctx): ListPosition => {
    let decoded: unknown;
    try {
      decoded = /^[A-Za-z0-9_-]+$/.test(s) ? JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) : undefined;
    } catch {
      decoded = undefined;
    }
    const parsed = CursorPosition.safeParse(decoded);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave out (pass nextCursor back as it came)' });
      return z.NEVER;
    }
    return parsed.data;
  });

export const ListIntentsQuery = z.strictObject({
  state: IntentState.optional(),
  channel: ChannelName.optional(),
  account: AccountName.optional(),
  idPrefix: IdPrefix.optional(),
  /** The intent an agent's key names (at most one: keys are unique). */
  idempotencyKey: IdempotencyKey.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: ListCursor.optional(),
});
export type ListIntentsQuery = z.infer<typeof ListIntentsQuery>;

/** Characters of a payload's JSON that a list shows; `GET /v1/intents/:id` has the whole payload. */
export const PAYLOAD_EXCERPT_CHARS = 200;
/** A list answer stops adding rows before its JSON passes this many bytes, and answers `nextCursor`. */
export const LIST_ANSWER_MAX_BYTES = 256 * 1024;

/**
 * One page from `rows` (fetched with `limit + 1` so that one more tells whether rows remain): at
 * most `limit` items, stopping before their JSON passes LIST_ANSWER_MAX_BYTES (a first item always
 * goes in), and the cursor after the last item taken when rows remain.
 */
export function pageUnderByteCap<R, T>(
  rows: readonly R[],
  limit: number,
  toItem: (row: R) => T,
  positionOf: (row: R) => ListPosition,
): { items: T[]; nextCursor: string | null } {
  const items: T[] = [];
  let bytes = 200; // the envelope and a cursor
  let last: R | undefined;
  for (const row of rows.slice(0, limit)) {
    const item = toItem(row);
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (items.length > 0 && bytes + size > LIST_ANSWER_MAX_BYTES) break;
    bytes += size;
    items.push(item);
    last = row;
  }
  const more = items.length < rows.length;
  return { items, nextCursor: more && last !== undefined ? encodeListCursor(positionOf(last)) : null };
}
/** Free text of a row (lastError, stateReason) in a list is cut to this many characters. */
export const LIST_TEXT_MAX_CHARS = 500;

/** An intent as a list shows it: no payload, only the start of its JSON and its size. */
export const IntentSummary = Intent.omit({ payload: true }).extend({
  /** The first PAYLOAD_EXCERPT_CHARS characters of the payload's JSON. */
  payloadExcerpt: z.string(),
  /** The size of the payload's JSON (as Postgres writes jsonb), bytes. */
  payloadBytes: z.int(),
});
export type IntentSummary = z.infer<typeof IntentSummary>;

/** GET /v1/intents: a page, newest first; `nextCursor` is null on the last page. */
export const IntentList = z.object({ intents: z.array(IntentSummary), nextCursor: z.string().nullable() });
export type IntentList = z.infer<typeof IntentList>;

export const IntentIdParams = z.strictObject({ id: z.uuid() });

/** Free text kept in the database (reasons, ids at a provider). */
const StoredText = (max: number, min = 0) => z.string().min(min).max(max).refine(isStorableText, UNSTORABLE_TEXT);

export const ApproveBody = z.strictObject({ reason: StoredText(2000).optional() }).default({});
export const RejectBody = z.strictObject({ reason: StoredText(2000, 1) });
export const RetryBody = z.strictObject({ reason: StoredText(2000).optional() }).default({});
export const ResolveBody = z.strictObject({
  externalId: StoredText(1000, 1),
  url: StoredText(4000).optional(),
  reason: StoredText(2000).optional(),
});

/** The pg-boss job: a wake-up ticket for one intent, never the record of it. */
export const TicketPayload = z.strictObject({ intentId: z.uuid() });
export type TicketPayload = z.infer<typeof TicketPayload>;
