import { Option } from 'commander';
import type { Command } from 'commander';
import type { CreatedToken, Role } from '@handoff/contracts';
import { parseName, parseRole } from '../args.ts';
import { asObject, out, withClient } from '../context.ts';
import { json, keyValues } from '../format.ts';

/** `handoff token create`: mint an API token. The coordinator keeps only its hash. */

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens');
  token
    .command('create')
    .description('create an API token and print it (it is shown once)')
    .addOption(new Option('--role <role>', 'operator, agent or viewer (required)').argParser(parseRole).makeOptionMandatory())
    .addOption(new Option('--name <name>', 'a label, e.g. the agent or person it is for').argParser(parseName))
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (options: { role: Role; name?: string; json?: boolean }) => {
      const request: { role: Role; name?: string } = { role: options.role };
      if (options.name) request.name = options.name;
      const body = await withClient((c) => c.post<unknown>('/v1/tokens', request));
      if (options.json) return out(json(body));
      const created = asObject<CreatedToken>(body, 'token');
      out(
        keyValues([
          ['token', created.token],
          ['id', created.id],
          ['role', created.role],
          ['name', created.name],
          ['created', created.createdAt],
        ]),
      );
      out('\nStore the token now: it is shown once and the coordinator keeps only its hash.');
      out(`Use it with: HANDOFF_TOKEN=<token> handoff ...  or  -H "authorization: Bearer <token>"`);
    });
}
