import { Option } from 'commander';
import type { Command } from 'commander';
import type { CreateTokenBody, Role } from '@handoff/contracts';
import { parseName, parseRole } from '../args.ts';
import { err, out, withClient } from '../context.ts';
import { age, json, keyValues, table } from '../format.ts';

/**
 * `handoff token create`: mint an API token (the coordinator keeps only its hash); `handoff token list`:
 * the tokens, with the `<role>:<id>` under which audit rows, intents and approvals name each.
 */

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens');
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
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (options: { role: Role; name?: string; json?: boolean }) => {
      const request: CreateTokenBody = { role: options.role };
      if (options.name) request.name = options.name;
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
        ]),
      );
      out('\nStore the token now: it is shown once and the coordinator keeps only its hash.');
      out(`Use it with: HANDOFF_TOKEN=<token> handoff ...  or  -H "authorization: Bearer <token>"`);
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
            { header: 'STATE', value: (t) => (t.revokedAt ? 'revoked' : 'live') },
          ],
          { empty: 'No tokens.' },
        ),
      );
      if (list.truncated) err(`only the newest ${list.tokens.length} tokens are shown`);
    });
}
