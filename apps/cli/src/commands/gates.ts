import { Argument, Option } from 'commander';
import type { Command } from 'commander';
import { GLOBAL_SCOPE } from '@handoff/contracts';
import type { Gate, SetGateBody } from '@handoff/contracts';
import { parseGateScope, parseReason } from '../args.ts';
import { out, withClient } from '../context.ts';
import { UsageError } from '../errors.ts';
import { age, json, table } from '../format.ts';

/** `handoff gate`: list gates, or close (`off`) / open (`on`) one. The kill switch. */

interface GateOptions {
  scope?: string;
  reason?: string;
  json?: boolean;
}

export function registerGateCommands(program: Command): void {
  program
    .command('gate')
    .description('the kill switch: with no argument list gates; `off` closes a gate, `on` opens it')
    .addArgument(new Argument('[action]', 'off closes the gate (no new leases), on opens it').choices(['off', 'on']))
    .addOption(
      new Option(
        '--scope <scope>',
        '"global", a channel ("x") or "channel:account" ("x:@antifund"); default global',
      ).argParser(parseGateScope),
    )
    .addOption(
      new Option('--reason <text>', 'why, shown in `handoff live` and kept in the gate history').argParser(parseReason),
    )
    .addOption(new Option('--json', 'print the raw JSON answer'))
    .addHelpText(
      'after',
      '\nExamples:\n  handoff gate                          list gates\n  handoff gate off --reason "incident"  stop every new lease\n  handoff gate off --scope x:@antifund  stop one account\n  handoff gate on --scope x:@antifund',
    )
    .action(async (action: 'off' | 'on' | undefined, options: GateOptions) => {
      if (action === undefined) {
        if (options.scope !== undefined || options.reason !== undefined) {
          throw new UsageError('--scope and --reason need an action: `handoff gate off|on --scope SCOPE`');
        }
        const body = await withClient((c) => c.listGates());
        if (options.json) return out(json(body));
        out(renderGates(body.gates));
        return;
      }
      const scope = options.scope ?? GLOBAL_SCOPE;
      const request: SetGateBody = { enabled: action === 'on' };
      if (options.reason) request.reason = options.reason;
      const gate = await withClient((c) => c.setGate(scope, request));
      if (options.json) return out(json(gate));
      const why = gate.reason ?? request.reason;
      out(
        gate.enabled
          ? `gate ${scope} is open: new leases under it may start again.`
          : `gate ${scope} is CLOSED${why ? ` (${why})` : ''}: no new leases under it; effects already in flight finish and get receipts.`,
      );
    });
}

export function renderGates(gates: Gate[], now: number = Date.now(), indent = ''): string {
  if (gates.length === 0) return `${indent}No gates set: everything is open.\n`;
  const closed = gates.filter((g) => !g.enabled).length;
  const summary =
    closed === 0
      ? `${indent}All open.\n`
      : `${indent}${closed} closed: no new leases under ${closed === 1 ? 'it' : 'them'}.\n`;
  return (
    table(
      gates,
      [
        { header: 'SCOPE', value: (g) => g.scope, max: 48 },
        { header: 'STATE', value: (g) => (g.enabled ? 'open' : 'CLOSED') },
        { header: 'CHANGED', value: (g) => age(g.updatedAt, now) },
        { header: 'BY', value: (g) => g.updatedBy, max: 24 },
        { header: 'REASON', value: (g) => g.reason, max: 60 },
      ],
      { indent },
    ) + summary
  );
}
