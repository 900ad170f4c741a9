import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { DurationText, TokenIdParams } from '@handoff/contracts';
import type { CreateTokenBody, Role, TokenInfo } from '@handoff/contracts';
import { parseName, parseRole, zodParser } from '../args.ts';
import { err, out, withClient } from '../context.ts';
import { age, json, keyValues, table, timestamp } from '../format.ts';

/**
 * `handoff token create`: mint an API token (the coordinator keeps only its hash), optionally one
 * that expires; `handoff token list`: the tokens, with the `<role>:<id>` under which audit rows,
 * intents and approvals name each; `handoff token revoke ID`: refused from the next request on.
 */

/** `30d`, `12h`: checked here as the coordinator checks it, sent as typed. */
function parseExpires(value: string): string {
  const checked = DurationText.safeParse(value);
  if (!checked.success) throw new InvalidArgumentError(checked.error.issues.map((i) => i.message).join('; '));
  return value.trim();
}

const tokenId = zodParser(
  TokenIdParams.shape.id,
  'must be a token id (a UUID), or the actor `handoff token list` shows',
);
/** A token's id, or its actor `<role>:<id>` as `token list` and the audit show it. */
const parseTokenId = (value: string): string => tokenId(value.replace(/^(operator|agent|viewer):/, ''));

/** `live`, `expired 3d ago`, `revoked 2h ago`, `expires in 29d`. */
function tokenState(t: TokenInfo, now: number): string {
  if (t.state === 'revoked') return `revoked ${age(t.revokedAt, now)}`;
  if (t.state === 'expired') return `expired ${age(t.expiresAt, now)}`;
  return t.expiresAt ? `live, expires ${age(t.expiresAt, now)}` : 'live';
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens: create, list, revoke');
  token
    .command('create')
    .description('create an API token and print it (it is shown once)')
    .addOption(
      new Option('--role <role>', 'operator, agent or viewer (required)').argParser(parseRole).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--name <name>',
        'a unique label, e.g. the agent or person it is for (shown, never used as identity)',
      ).argParser(parseName),
    )
    .addOption(
      new Option('--expires <duration>', 'stop working after this long: 90m, 12h, 30d, 2w (default: never)').argParser(
        parseExpires,
      ),
    )
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (options: { role: Role; name?: string; expires?: string; json?: boolean }) => {
      const request: CreateTokenBody = { role: options.role };
      if (options.name) request.name = options.name;
      if (options.expires) request.expiresIn = options.expires;
      const created = await withClient((c) => c.createToken(request));
      if (options.json) return out(json(created));
      out(
        keyValues([
          ['token', created.token],
          ['id', created.id],
          ['role', created.role],
          ['name', created.name],
          ['recorded as', `${created.role}:${created.id}`],
          ['created', created.createdAt],
          ['expires', created.expiresAt ? timestamp(created.expiresAt) : 'never (until revoked)'],
        ]),
      );
      out('\nStore the token now: it is shown once and the coordinator keeps only its hash.');
      out(`Use it with: HANDOFF_TOKEN=<token> handoff ...  or  -H "authorization: Bearer <token>"`);
      out(`Revoke it with: handoff token revoke ${created.id}`);
    });

  token
    .command('list')
    .description('list API tokens (never their secrets), newest first, with the actor audit rows record for each')
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (options: { json?: boolean }) => {
      const list = await withClient((c) => c.listTokens());
      if (options.json) return out(json(list));
      const now = Date.now();
      out(
        table(
          list.tokens,
          [
            { header: 'ACTOR', value: (t) => t.actor, max: Infinity },
            { header: 'NAME', value: (t) => t.name, max: 32 },
            { header: 'CREATED', value: (t) => age(t.createdAt, now) },
            { header: 'LAST USED', value: (t) => (t.lastUsedAt ? age(t.lastUsedAt, now) : 'never') },
            { header: 'STATE', value: (t) => tokenState(t, now) },
          ],
          { empty: 'No tokens.' },
        ),
      );
      out('\nAudit rows name a token as <role>:<id>. Last use is recorded at most once a minute.');
      if (list.truncated) err(`only the newest ${list.tokens.length} tokens are shown`);
    });

  token
    .command('revoke')
    .description('revoke a token: every request with it is refused (401) from now on')
    .argument('<id>', 'the token id, or its actor <role>:<id> (`handoff token list`)', parseTokenId)
    .addOption(new Option('--json', 'print the token as it now is'))
    .action(async (id: string, options: { json?: boolean }) => {
      const revoked = await withClient((c) => c.revokeToken(id));
      if (options.json) return out(json(revoked));
      out(
        `token ${revoked.id}${revoked.name ? ` (${revoked.name})` : ''} is revoked (${age(revoked.revokedAt)}): requests with it are refused.`,
      );
    });
}
