import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { AuditQuery, DurationText } from '@handoff/contracts';
import type { AuditEntry } from '@handoff/contracts';
import { parseLimit, zodParser } from '../args.ts';
import type { AuditFilter } from '../client.ts';
import { out, withClient } from '../context.ts';
import { age, json, table } from '../format.ts';

/**
 * `handoff audit`: who decided what, newest first: approvals, rejections, retries, resolves, gate
 * changes with their reasons, tokens created and revoked, command approvals (GET /v1/audit).
 */

interface AuditOptions {
  since?: string;
  actor?: string;
  action?: string;
  target?: string;
  limit?: number;
  json?: boolean;
}

function parseSince(value: string): string {
  const checked = DurationText.safeParse(value);
  if (!checked.success) throw new InvalidArgumentError(checked.error.issues.map((i) => i.message).join('; '));
  return value.trim();
}

const parseAction = zodParser(AuditQuery.shape.action.unwrap());

/** The reason first (what a person wrote), then the other details as `key=value`. */
export function auditDetails(details: Record<string, unknown>): string {
  const { reason, ...rest } = details;
  const parts = Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [typeof reason === 'string' ? `"${reason}"` : null, ...parts].filter((p) => p !== null).join(' ');
}

export function renderAudit(entries: readonly AuditEntry[], now: number = Date.now()): string {
  return table(
    entries,
    [
      { header: 'WHEN', value: (e) => age(e.at, now) },
      { header: 'ACTOR', value: (e) => (e.actorName ? `${e.actorName} (${e.actor.split(':')[0]})` : e.actor), max: 32 },
      { header: 'ACTION', value: (e) => e.action },
      { header: 'TARGET', value: (e) => e.target, max: Infinity },
      { header: 'DETAILS', value: (e) => auditDetails(e.details), max: 80 },
    ],
    { empty: 'No audit entries match.' },
  );
}

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      'who decided what, newest first: approvals, rejections, retries, resolves, gate changes, tokens, command approvals',
    )
    .addOption(new Option('--since <duration>', 'only entries younger than this: 90m, 24h, 7d').argParser(parseSince))
    .addOption(new Option('--actor <actor>', 'only this actor: <role>:<token id>, or a token name'))
    .addOption(
      new Option(
        '--action <action>',
        'only this action (gate.close) or family (gate, intent, token, command)',
      ).argParser(parseAction),
    )
    .addOption(new Option('--target <target>', 'only entries about this intent id, gate scope or token id'))
    .addOption(new Option('--limit <n>', 'at most this many (1-1000, default 100)').argParser(parseLimit))
    .addOption(new Option('--json', 'print {entries, nextCursor} as JSON'))
    .addHelpText(
      'after',
      '\nExamples:\n  handoff audit --since 24h\n  handoff audit --action gate --since 7d\n  handoff audit --actor alice --json',
    )
    .action(async (options: AuditOptions) => {
      const filter: AuditFilter = {};
      if (options.since) filter.since = options.since;
      if (options.actor) filter.actor = options.actor;
      if (options.action) filter.action = options.action;
      if (options.target) filter.target = options.target;
      const limit = options.limit ?? 100;
      const body = await withClient(async (c) => {
        const entries: AuditEntry[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await c.audit({ ...filter, limit: Math.min(limit - entries.length, 500), cursor });
          entries.push(...page.entries);
          if (page.nextCursor === null || entries.length >= limit) return { entries, nextCursor: page.nextCursor };
          cursor = page.nextCursor;
        }
      });
      if (options.json) return out(json(body));
      out(renderAudit(body.entries));
      if (body.nextCursor !== null) out(`\nOlder entries remain: raise --limit or narrow with --since.`);
    });
}
