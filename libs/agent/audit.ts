import path from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '@handoff/db';
import { createRotatingFile } from '@handoff/files';
import { redact } from './redact.ts';

/**
 * The audit of every tool call: one JSON line in `$HANDOFF_HOME/agent-audit.jsonl` and one row in
 * `agent_audit`, written when the call ends however it ends (done, failed, blocked, stopped).
 * Arguments are redacted before they are written anywhere. The file rotates at 10 MiB, five kept
 * (`agent-audit.jsonl.1` ... `.5`, @handoff/files); the rows follow policy.json's retention.
 */
export const AUDIT_FILE = 'agent-audit.jsonl';

export interface AuditRecord {
  sessionId: string;
  /** Who ran the session: `<role>:<token id>` (actorOf), never a token's name. */
  actor: string;
  toolCallId: string;
  toolName: string;
  args: unknown;
  durationMs: number;
  blocked: boolean;
  decision: string | null;
  exitCode: number | null;
}

export interface AgentAudit {
  record(entry: AuditRecord): Promise<void>;
  /** Waits for every write started so far. */
  flush(): Promise<void>;
}

export function createAgentAudit(opts: { db: Db; home: string; log: Logger }): AgentAudit {
  const file = path.join(opts.home, AUDIT_FILE);
  const jsonl = createRotatingFile(file);
  // One chain keeps the file's lines in call order; a failed write is logged, never thrown at a tool.
  let chain: Promise<void> = Promise.resolve();
  const pending = new Set<Promise<void>>();

  return {
    record(entry) {
      const args = redact(entry.args);
      const ts = new Date();
      const line = JSON.stringify({
        ts: ts.toISOString(),
        session_id: entry.sessionId,
        actor: entry.actor,
        tool_call_id: entry.toolCallId,
        tool_name: entry.toolName,
        args,
        duration_ms: Math.round(entry.durationMs),
        blocked: entry.blocked,
        decision: entry.decision,
        exit_code: entry.exitCode,
      });
      chain = chain
        .then(() => jsonl.append(`${line}\n`))
        .catch((err: unknown) => opts.log.error({ err, file }, 'agent audit: cannot append to the JSONL file'));
      const row = opts.db
        .insertInto('agent_audit')
        .values({
          ts,
          session_id: entry.sessionId,
          actor: entry.actor,
          tool_call_id: entry.toolCallId,
          tool_name: entry.toolName,
          // jsonb cannot hold \u0000: keep it visible as text instead of losing the row
          args: JSON.stringify(args ?? null).replaceAll('\\u0000', '\\\\u0000'),
          duration_ms: Math.round(entry.durationMs),
          blocked: entry.blocked,
          decision: entry.decision,
          exit_code: entry.exitCode,
        })
        .execute()
        .then(() => undefined)
        .catch((err: unknown) => opts.log.error({ err }, 'agent audit: cannot insert the agent_audit row'));
      const both = Promise.all([chain, row]).then(() => undefined);
      pending.add(both);
      void both.finally(() => pending.delete(both));
      return both;
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
