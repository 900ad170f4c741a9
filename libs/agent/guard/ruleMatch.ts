import type { GuardRule, GuardTarget } from '@handoff/contracts';
import { hasFlag, subcommandOf } from './commandFacts.ts';
import type { Word } from './words.ts';

/** Rules compiled once: command patterns and argument regexes. */

export interface CompiledRule {
  rule: GuardRule;
  /** Set for rules that come from guard.json (only those may lift an ask with `allow`). */
  fromUser: boolean;
  matchesName(name: string): boolean;
  args: RegExp[] | null;
}

export interface SimpleCommand {
  name: string;
  args: Word[];
  /** Where the command's write targets land (computed only when a rule asks). */
  targets(): Set<GuardTarget | 'inside'>;
}

export function compileRules(rules: readonly GuardRule[], fromUser: boolean): CompiledRule[] {
  return rules.map((rule) => {
    // Case-insensitive: on macOS `RM` runs /bin/rm.
    const exact = new Set(rule.commands.filter((c) => !c.endsWith('*')).map((c) => c.toLowerCase()));
    const prefixes = rule.commands.filter((c) => c.endsWith('*')).map((c) => c.slice(0, -1).toLowerCase());
    return {
      rule,
      fromUser,
      matchesName: (name) => {
        const lower = name.toLowerCase();
        return exact.has(lower) || prefixes.some((p) => lower.startsWith(p));
      },
      args: rule.args ? rule.args.map((source) => compileArgRegex(source)) : null,
    };
  });
}

/** `(?i)` at the start makes a pattern case-insensitive (JS has no inline flags). */
function compileArgRegex(source: string): RegExp {
  return source.startsWith('(?i)') ? new RegExp(`^(?:${source.slice(4)})$`, 'is') : new RegExp(`^(?:${source})$`, 's');
}

export function ruleMatches(compiled: CompiledRule, command: SimpleCommand): boolean {
  const { rule } = compiled;
  if (!compiled.matchesName(command.name)) return false;
  if (rule.subcommands) {
    const sub = subcommandOf(command.name, command.args);
    if (sub === null || !rule.subcommands.includes(sub)) return false;
  }
  if (rule.flags && !rule.flags.some((flag) => hasFlag(command.args, flag))) return false;
  if (compiled.args) {
    const regexes = compiled.args;
    const hit = command.args.some((word) => (word.values ?? []).some((value) => regexes.some((re) => re.test(value))));
    if (!hit) return false;
  }
  if (rule.target && !command.targets().has(rule.target)) return false;
  return true;
}
