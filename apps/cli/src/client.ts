import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import {
  AgentEvent,
  AgentSessionDetail,
  AgentSessionList,
  ArchiveBatch,
  ArchiveRemoved,
  AuditList,
  CommandApproval,
  CommandApprovalList,
  CreatedToken,
  DoctorReport,
  Gate,
  GateList,
  HeldIntent,
  HeldIntentDetail,
  Intent,
  IntentList,
  LiveReport,
  RemovedGate,
  RouterUsageReport,
  TokenInfo,
  TokenList,
} from '@handoff/contracts';
import type {
  AgentRunBody,
  ArchiveRemoveBody,
  AgentSessionState,
  CommandApprovalState,
  CreateTokenBody,
  IntentState,
  RouterUsageBy,
  SetGateRequest,
} from '@handoff/contracts';
import { CoordinatorHttp } from './http.ts';
import type { HttpOptions, Method } from './http.ts';
import { UnexpectedAnswer } from './errors.ts';

/**
 * The coordinator's API as the CLI calls it: one method per call, each answer checked against its
 * schema in @handoff/contracts before a command sees it. An answer that does not fit (a coordinator
 * of another version, a proxy in the way) is an UnexpectedAnswer, which errors.ts prints as one line.
 */

export interface IntentFilter {
  state?: IntentState;
  channel?: string;
  account?: string;
  /** Hex digits from the start of the id (IdPrefix). */
  idPrefix?: string;
  /** The key an agent chose: at most one intent has it. */
  idempotencyKey?: string;
}

/** GET /v1/audit's filters (AuditQuery); `since` is a duration such as `24h`. */
export interface AuditFilter {
  since?: string;
  actor?: string;
  action?: string;
  target?: string;
}

export interface CommandApprovalFilter {
  state?: CommandApprovalState;
  idPrefix?: string;
}

/** One page of a list: at most `limit` rows after `cursor` (a `nextCursor` of the page before). */
export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export class CoordinatorClient {
  readonly #http: CoordinatorHttp;

  constructor(options: HttpOptions) {
    this.#http = new CoordinatorHttp(options);
  }

  get baseUrl(): string {
    return this.#http.baseUrl;
  }

  listIntents(filter: IntentFilter & PageRequest): Promise<IntentList> {
    return this.#call(IntentList, 'GET', `/v1/intents${query({ ...filter })}`);
  }

  getIntent(id: string): Promise<HeldIntentDetail> {
    return this.#call(HeldIntentDetail, 'GET', `/v1/intents/${segment(id)}`);
  }

  approveIntent(id: string, reason?: string): Promise<HeldIntent> {
    return this.#call(HeldIntent, 'POST', `/v1/intents/${segment(id)}/approve`, reasonBody(reason));
  }

  rejectIntent(id: string, reason: string): Promise<Intent> {
    return this.#call(Intent, 'POST', `/v1/intents/${segment(id)}/reject`, { reason });
  }

  retryIntent(id: string, reason?: string): Promise<HeldIntent> {
    return this.#call(HeldIntent, 'POST', `/v1/intents/${segment(id)}/retry`, reasonBody(reason));
  }

  resolveIntent(id: string, body: { externalId: string; url?: string; reason?: string }): Promise<Intent> {
    return this.#call(Intent, 'POST', `/v1/intents/${segment(id)}/resolve`, body);
  }

  listCommandApprovals(filter: CommandApprovalFilter & PageRequest): Promise<CommandApprovalList> {
    return this.#call(CommandApprovalList, 'GET', `/v1/agent/approvals${query({ ...filter })}`);
  }

  getCommandApproval(id: string): Promise<CommandApproval> {
    return this.#call(CommandApproval, 'GET', `/v1/agent/approvals/${segment(id)}`);
  }

  approveCommand(id: string, reason?: string): Promise<CommandApproval> {
    return this.#call(CommandApproval, 'POST', `/v1/agent/approvals/${segment(id)}/approve`, reasonBody(reason));
  }

  rejectCommand(id: string, reason: string): Promise<CommandApproval> {
    return this.#call(CommandApproval, 'POST', `/v1/agent/approvals/${segment(id)}/reject`, { reason });
  }

  listGates(): Promise<GateList> {
    return this.#call(GateList, 'GET', '/v1/gates');
  }

  setGate(scope: string, body: SetGateRequest): Promise<Gate> {
    return this.#call(Gate, 'PUT', `/v1/gates/${segment(scope)}`, body);
  }

  removeGate(scope: string, reason?: string): Promise<RemovedGate> {
    return this.#call(RemovedGate, 'DELETE', `/v1/gates/${segment(scope)}${query({ reason })}`);
  }

  createToken(body: CreateTokenBody): Promise<CreatedToken> {
    return this.#call(CreatedToken, 'POST', '/v1/tokens', body);
  }

  listTokens(): Promise<TokenList> {
    return this.#call(TokenList, 'GET', '/v1/tokens');
  }

  revokeToken(id: string): Promise<TokenInfo> {
    return this.#call(TokenInfo, 'POST', `/v1/tokens/${segment(id)}/revoke`);
  }

  audit(filter: AuditFilter & PageRequest): Promise<AuditList> {
    return this.#call(AuditList, 'GET', `/v1/audit${query({ ...filter })}`);
  }

  /** GET /v1/router/usage: `since` is a duration such as `24h`. */
  routerUsage(filter: { since?: string; by?: RouterUsageBy }): Promise<RouterUsageReport> {
    return this.#call(RouterUsageReport, 'GET', `/v1/router/usage${query({ ...filter })}`);
  }

  live(): Promise<LiveReport> {
    return this.#call(LiveReport, 'GET', '/v1/live');
  }

  doctor(): Promise<DoctorReport> {
    return this.#call(DoctorReport, 'GET', '/v1/doctor');
  }

  /** GET /v1/archive: finished intents created before `before`, with all their rows. */
  archiveBatch(q: { before: string; after?: string; limit?: number }): Promise<ArchiveBatch> {
    return this.#call(ArchiveBatch, 'GET', `/v1/archive${query({ ...q })}`);
  }

  /** POST /v1/archive/remove: only after the batch is safe in the file. */
  archiveRemove(body: ArchiveRemoveBody): Promise<ArchiveRemoved> {
    return this.#call(ArchiveRemoved, 'POST', '/v1/archive/remove', body);
  }

  /** Starts an agent run; its events, each checked, as they come. */
  async runAgent(body: AgentRunBody): Promise<AsyncGenerator<AgentEvent>> {
    const res = await this.#http.stream('/v1/agent/run', body);
    return this.#events(res, 'POST /v1/agent/run');
  }

  agentSessions(filter: { state?: AgentSessionState; limit?: number }): Promise<AgentSessionList> {
    return this.#call(AgentSessionList, 'GET', `/v1/agent/sessions${query(filter)}`);
  }

  agentSession(sessionId: string): Promise<AgentSessionDetail> {
    return this.#call(AgentSessionDetail, 'GET', `/v1/agent/sessions/${segment(sessionId)}`);
  }

  /** Goes on with a stored session; its events, each checked, as they come (like runAgent). */
  async resumeAgent(sessionId: string): Promise<AsyncGenerator<AgentEvent>> {
    const res = await this.#http.stream(`/v1/agent/sessions/${segment(sessionId)}/resume`, {});
    return this.#events(res, 'POST /v1/agent/sessions/:id/resume');
  }

  async stopAgent(sessionId: string): Promise<void> {
    await this.#http.call('POST', '/v1/agent/stop', { sessionId });
  }

  async #call<S extends z.ZodType>(schema: S, method: Method, path: string, body?: unknown): Promise<z.output<S>> {
    const answer = await this.#http.call(method, path, body);
    return checked(schema, answer, this.baseUrl, `${method} ${path.replace(/\?.*$/, '')}`);
  }

  async *#events(res: IncomingMessage, request: string): AsyncGenerator<AgentEvent> {
    for await (const message of sseMessages(res)) {
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        data = message.data;
      }
      yield checked(AgentEvent, data, this.baseUrl, request);
    }
  }
}

function checked<S extends z.ZodType>(schema: S, answer: unknown, baseUrl: string, request: string): z.output<S> {
  const result = schema.safeParse(answer);
  if (!result.success) throw new UnexpectedAnswer(baseUrl, request, result.error);
  return result.data;
}

/** Reads `text/event-stream` from a response: whole `data:` messages, one at a time. */
async function* sseMessages(res: IncomingMessage): AsyncGenerator<{ event: string | null; data: string }> {
  let buffer = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buffer += String(chunk).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('event:')) event = line.slice(6).trim();
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
    }
  }
}

function reasonBody(reason: string | undefined): { reason?: string } {
  return reason ? { reason } : {};
}

/** Path segment helper: ids and scopes such as `x:@antifund` go into URLs encoded. */
function segment(value: string): string {
  return encodeURIComponent(value);
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
