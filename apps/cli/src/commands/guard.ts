import { resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { createExecGuard, readGuardRules } from '@handoff/agent';
import { handoffHome } from '../config.ts';
import { out } from '../context.ts';
import { CliError } from '../errors.ts';
import { cell } from '../format.ts';

/**
 * `handoff guard check "CMD"`: the exec guard's decision for one command, decided here (no
 * coordinator) with $HANDOFF_HOME/guard.json on top of the built-in rules. The sandbox root is
 * --cwd (default: the current directory). The decision is printed and is the exit code, so a script
 * can branch on it: 0 allow, 3 ask, 4 deny (1 when guard.json is bad, 2 on a usage error).
 */

/** Exit codes of `guard check`, past the CLI's own 0/1/2. */
export const GUARD_EXIT = { allow: 0, ask: 3, deny: 4 } as const;

interface CheckOptions {
  cwd?: string;
  json?: boolean;
  /** commander sets false for --no-isolation. */
  isolation: boolean;
}

export function registerGuardCommands(program: Command): void {
  const guard = program.command('guard').description("the exec guard that judges the agent's shell commands");
  guard
    .command('check')
    .description("print the exec guard's decision for one bash command; exit 0 allow, 3 ask, 4 deny")
    .argument('<command>', 'the bash command, quoted as one argument')
    .addOption(new Option('--cwd <dir>', 'sandbox root and working directory (default: the current directory)'))
    .addOption(new Option('--json', 'print {decision, rule, reason}'))
    .addOption(
      new Option(
        '--no-isolation',
        'judge as for isolation "none": only commands the guard can show harmless are allowed',
      ),
    )
    .action(async (command: string, options: CheckOptions) => {
      const home = handoffHome();
      const rules = readGuardRules(home);
      if (!rules.ok) throw new CliError(rules.message);
      const root = resolve(options.cwd ?? process.cwd());
      const checker = await createExecGuard({ rules: rules.value });
      const verdict = await checker.check(command, {
        cwd: root,
        sandboxRoot: root,
        handoffHome: home,
        approverAvailable: true,
        isolated: options.isolation,
      });
      if (options.json) {
        out(JSON.stringify({ decision: verdict.decision, rule: verdict.rule, reason: verdict.reason }));
      } else {
        out(`${verdict.decision}  ${verdict.rule}  ${cell(verdict.reason)}`);
      }
      process.exitCode = GUARD_EXIT[verdict.decision];
    });
}
