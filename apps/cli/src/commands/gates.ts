import { Argument, Option } from 'commander';
import type { Command } from 'commander';
import { GLOBAL_SCOPE } from '@handoff/contracts';
import type { Gate, SetGateRequest } from '@handoff/contracts';
import { parseGateScope, parseReason } from '../args.ts';
import { out, withClient } from '../context.ts';
import { CoordinatorError, UsageError } from '../errors.ts';
import { age, json, table } from '../format.ts';

/**
 * `handoff gate`: the kill switch. A gate is open or closed, the same two words as the API's
 * `state` and the console: `gate close`, `gate open`, `gate remove`, and with no action the list.
 * `off` and `on` stay as the older spellings of close and open.
 */

interface GateOptions {
  scope?: string;
  reason?: string;
  force?: boolean;
  json?: boolean;
}

type Action = 'close' | 'open' | 'remove';
const SPELLINGS: Record<string, Action> = { close: 'close', off: 'close', open: 'open', on: 'open', remove: 'remove' };

export function registerGateCommands(program: Command): void {
  program
    .command('gate')
    .description('the kill switch: with no argument list gates; `close` stops new leases, `open` lets them start again')
    .addArgument(
      new Argument('[action]', 'close (no new leases), open, or remove (open, and drop it from the list)').choices(
        Object.keys(SPELLINGS),
      ),
    )
    .addArgument(new Argument('[scope]', 'as --scope').argParser(parseGateScope))
    .addOption(
      new Option(
        '--scope <scope>',
        '"global", a channel ("x") or "channel:account" ("x:@antifund"); default global',
      ).argParser(parseGateScope),
    )
    .addOption(
      new Option('--reason <text>', 'why, shown in `handoff live` and kept in the gate history').argParser(parseReason),
    )
    .addOption(new Option('--force', 'close a gate on a channel or account the coordinator does not know'))
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .addHelpText(
      'after',
      '\nExamples:\n  handoff gate                            list gates\n  handoff gate close --reason "incident"  stop every new lease\n  handoff gate close x:@antifund          stop one account\n  handoff gate open x:@antifund\n  handoff gate remove x:@antifund         open it and drop it from the list',
    )
    .action(async (spelled: string | undefined, scopeArg: string | undefined, options: GateOptions) => {
      if (spelled === undefined) {
        if (options.scope !== undefined || options.reason !== undefined || options.force) {
          throw new UsageError('--scope, --reason and --force need an action: `handoff gate close|open|remove SCOPE`');
        }
        const body = await withClient((c) => c.listGates());
        if (options.json) return out(json(body));
        out(renderGates(body.gates));
        return;
      }
      if (scopeArg !== undefined && options.scope !== undefined && scopeArg !== options.scope) {
        throw new UsageError(`two scopes given (${scopeArg} and --scope ${options.scope}): give one`);
      }
      const action = SPELLINGS[spelled]!;
      const scope = scopeArg ?? options.scope ?? GLOBAL_SCOPE;
      if (action === 'remove') {
        const removed = await withClient((c) => c.removeGate(scope, options.reason));
        if (options.json) return out(json(removed));
        out(
          removed.removed
            ? `gate ${scope} is removed: the scope is open and no longer listed.`
            : `gate ${scope} had no gate to remove: it is open.`,
        );
        return;
      }
      const request: SetGateRequest = { state: action === 'open' ? 'open' : 'closed' };
      if (options.reason) request.reason = options.reason;
      if (options.force) request.force = true;
      const gate = await withClient((c) => c.setGate(scope, request)).catch((error: unknown) => {
        // the coordinator says "force it"; here that is an option
        if (error instanceof CoordinatorError && error.code === 'unknown_scope')
          throw new CoordinatorError(
            error.status,
            error.code,
            error.message.replace(/force it$/, 'add --force'),
            error.details,
          );
        throw error;
      });
      if (options.json) return out(json(gate));
      const why = gate.reason ?? request.reason;
      out(
        gate.state === 'open'
          ? `gate ${scope} is open: new leases under it may start again.`
          : `gate ${scope} is CLOSED${why ? ` (${why})` : ''}: no new leases under it; effects already in flight finish and get receipts.`,
      );
    });
}

export function renderGates(gates: Gate[], now: number = Date.now(), indent = ''): string {
  if (gates.length === 0) return `${indent}No gates set: everything is open.\n`;
  const closed = gates.filter((g) => g.state === 'closed').length;
  const summary =
    closed === 0
      ? `${indent}All open.\n`
      : `${indent}${closed} closed: no new leases under ${closed === 1 ? 'it' : 'them'}.\n`;
  return (
    table(
      gates,
      [
        { header: 'SCOPE', value: (g) => g.scope, max: 48 },
        { header: 'STATE', value: (g) => (g.state === 'open' ? 'open' : 'CLOSED') },
        { header: 'CHANGED', value: (g) => age(g.updatedAt, now) },
        { header: 'BY', value: (g) => g.updatedBy, max: 24 },
        { header: 'REASON', value: (g) => g.reason, max: 60 },
      ],
      { indent },
    ) + summary
  );
}
