import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { z } from 'zod';
import { CreatedNode, NodeAccount, NodeId, NodeList, type CreateNodeBody } from '@handoff/nodes';
import { clientOptions, coordinatorUrl } from '../config.ts';
import { out } from '../context.ts';
import { UnexpectedAnswer } from '../errors.ts';
import { zodParser } from '../args.ts';
import { age, json, keyValues, table } from '../format.ts';
import { CoordinatorHttp, type Method } from '../http.ts';

/**
 * `handoff node add|list|remove` (operator): executors on other machines, each with its own
 * database role that may do an executor's work and nothing else (docs/operations.md "Adding a node").
 */

const Removed = z.strictObject({ id: z.string(), terminated: z.number() });

async function call<S extends z.ZodType>(
  schema: S,
  method: Method,
  path: string,
  body?: unknown,
): Promise<z.output<S>> {
  // HANDOFF_URL, the token and the CA an https coordinator must chain to (HANDOFF_CA or handoff login)
  const http = new CoordinatorHttp(clientOptions());
  const answer = await http.call(method, path, body);
  const result = schema.safeParse(answer);
  if (!result.success) throw new UnexpectedAnswer(http.baseUrl, `${method} ${path}`, result.error);
  return result.data;
}

const parseNodeId = zodParser(NodeId);

function parseAccounts(value: string): string[] {
  const accounts = value
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  for (const a of accounts) {
    if (!NodeAccount.safeParse(a).success)
      throw new InvalidArgumentError(`${JSON.stringify(a)} must be "channel:account" or "channel:*"`);
  }
  if (accounts.length === 0) throw new InvalidArgumentError('name at least one channel:account');
  return accounts;
}

/** The host a node reaches the primary's Postgres at: HANDOFF_URL's, unless that is this machine's loopback. */
function coordinatorHost(): string | undefined {
  const host = new URL(coordinatorUrl()).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.') ? undefined : host;
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('executors on other machines, each with its own database role');
  node
    .command('add')
    .description('register a node for its accounts and print the one command that joins it')
    .argument('<id>', 'node id (a-z, 0-9, "_", "-")', parseNodeId)
    .addOption(
      new Option('--accounts <list>', 'channel:account list it may run, e.g. webhook:default,x:@acme,email:*')
        .argParser(parseAccounts)
        .makeOptionMandatory(),
    )
    .addOption(new Option('--host <addr>', "the address the node reaches this Postgres at (default HANDOFF_URL's)"))
    .addOption(new Option('--json', 'print {id, join, databaseUrl, caFingerprint}'))
    .action(async (id: string, options: { accounts: string[]; host?: string; json?: boolean }) => {
      const body: CreateNodeBody = { id, accounts: options.accounts };
      const host = options.host ?? coordinatorHost();
      if (host) body.host = host;
      const created = await call(CreatedNode, 'POST', '/v1/nodes', body);
      if (options.json) return out(json(created));
      out(`Run this on the node (it holds the node's database password: it is shown once):\n\n  ${created.join}\n`);
      out(
        keyValues([
          ['node', created.id],
          ['accounts', options.accounts.join(', ')],
          ['CA fingerprint', created.caFingerprint ?? 'none (the coordinator does not --listen)'],
        ]),
      );
    });

  node
    .command('list')
    .description('nodes, their accounts and what their executors last reported')
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (options: { json?: boolean }) => {
      const list = await call(NodeList, 'GET', '/v1/nodes');
      if (options.json) return out(json(list));
      const now = Date.now();
      out(
        table(
          list.nodes,
          [
            { header: 'NODE', value: (n) => n.id, max: 40 },
            { header: 'ACCOUNTS', value: (n) => n.accounts.join(','), max: 60 },
            { header: 'HEARTBEAT', value: (n) => (n.lastHeartbeat ? age(n.lastHeartbeat, now) : 'never') },
            { header: 'STATUS', value: (n) => n.status ?? '-' },
            { header: 'VERSION', value: (n) => n.version ?? '-' },
            { header: 'POLICY', value: (n) => n.policyVersion ?? '-' },
            { header: 'IN FLIGHT', value: (n) => (n.inFlight === null ? '-' : String(n.inFlight)) },
          ],
          { empty: 'No nodes. Add one with: handoff node add ID --accounts channel:account,...' },
        ),
      );
    });

  node
    .command('remove')
    .description("drop a node's database role and end its sessions; its leases expire and are taken over")
    .argument('<id>', 'node id', parseNodeId)
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .action(async (id: string, options: { json?: boolean }) => {
      const removed = await call(Removed, 'DELETE', `/v1/nodes/${encodeURIComponent(id)}`);
      if (options.json) return out(json(removed));
      out(`node ${removed.id} removed: its role is dropped, ${removed.terminated} session(s) ended.`);
    });
}
