// The exec guard (issue 4): see docs/guard.md. Every bash command the agent wants to run is
// parsed with tree-sitter-bash and each simple command in it is judged against the rules.

import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { GuardFile, GuardRule } from '@handoff/contracts';
import { Analyzer } from './analyze.ts';
import type { Finding } from './analyze.ts';
import { DEFAULT_RULES, STRUCTURAL_RULES } from './defaultRules.ts';
import { bashParser } from './parser.ts';
import { DEFAULT_PROTECTED_PATHS, protectedMatcher, realPathOfExisting } from './paths.ts';
import { compileRules } from './ruleMatch.ts';

export { DEFAULT_RULES, STRUCTURAL_RULES } from './defaultRules.ts';
export { DEFAULT_PROTECTED_PATHS } from './paths.ts';
export { loadGuardRules, readGuardRules } from './loadRules.ts';
export { warmUpParser } from './parser.ts';

export type GuardDecision = 'allow' | 'ask' | 'deny';

export interface GuardVerdict {
  decision: GuardDecision;
  /** The id of the rule that decided, e.g. `deny.rm-outside-sandbox` or `default.allow`. */
  rule: string;
  /** One line a person can read: why this decision, naming the offending simple command. */
  reason: string;
}

export interface GuardContext {
  /** Absolute working directory the command would run in (inside the sandbox). */
  cwd: string;
  /** Absolute sandbox root; paths outside it are "outside the sandbox". */
  sandboxRoot: string;
  /** $HANDOFF_HOME, whose secrets.json and tokens must never be read. */
  handoffHome: string;
  /** When false nobody can answer an `ask`, so it becomes `deny` (fail closed). */
  approverAvailable: boolean;
  /**
   * An OS sandbox (bubblewrap, unshare, sandbox-exec) holds the command. Anything but `true`
   * means none does: then only commands the guard can show harmless (read-only, inside the
   * sandbox; allowlist.ts) are allowed and everything else is asked about.
   */
  isolated: boolean;
}

export interface ExecGuard {
  check(command: string, ctx: GuardContext): Promise<GuardVerdict>;
}

export interface ExecGuardOptions {
  /**
   * Rules on top of the built-in defaults: a parsed guard.json (`{rules, protectedPaths}`), or a
   * function returning the current one (e.g. `loadGuardRules(home).current`), read on every check.
   */
  rules?: GuardFile | (() => GuardFile);
  /** The user's home for `~`, `$HOME` and the credential paths; default os.homedir(). */
  userHome?: string;
}

const MAX_COMMAND_CHARS = 100_000;

function normalizeRoot(path: string): string {
  return posix.resolve(path);
}

/** deny > ask > allow; the first finding of the winning kind names the rule. */
export function decide(
  findings: readonly Finding[],
  allowedBy: readonly string[],
  approverAvailable: boolean,
): GuardVerdict {
  const deny = findings.find((f) => f.decision === 'deny');
  if (deny) return { decision: 'deny', rule: deny.rule, reason: deny.reason };
  const ask = findings.find((f) => f.decision === 'ask');
  if (ask) {
    return approverAvailable
      ? { decision: 'ask', rule: ask.rule, reason: ask.reason }
      : { decision: 'deny', rule: ask.rule, reason: `${ask.reason} (no approver is available, so it is denied)` };
  }
  const allowRule = allowedBy[0];
  if (allowRule) return { decision: 'allow', rule: allowRule, reason: 'allowed by a guard.json rule' };
  return { decision: 'allow', rule: 'default.allow', reason: 'no rule objects to any command in it' };
}

export async function createExecGuard(opts: ExecGuardOptions = {}): Promise<ExecGuard> {
  const parser = await bashParser();
  const home = opts.userHome ?? homedir();
  const builtIn = compileRules(DEFAULT_RULES, false);
  let cachedFile: GuardFile | undefined;
  let cachedUser: { rules: ReturnType<typeof compileRules>; protectedPaths: string[] } | undefined;
  const userRules = (): { rules: ReturnType<typeof compileRules>; protectedPaths: string[] } => {
    const file = typeof opts.rules === 'function' ? opts.rules() : opts.rules;
    if (!file) return { rules: [], protectedPaths: [] };
    if (file !== cachedFile || !cachedUser) {
      cachedFile = file;
      cachedUser = { rules: compileRules(file.rules as GuardRule[], true), protectedPaths: file.protectedPaths };
    }
    return cachedUser;
  };

  return {
    async check(command, ctx) {
      if (command.length > MAX_COMMAND_CHARS) {
        return decide(
          [
            {
              decision: 'ask',
              rule: 'ask.too-complex',
              reason: `${STRUCTURAL_RULES['ask.too-complex']}: the command is longer than ${MAX_COMMAND_CHARS} characters`,
              liftable: false,
            },
          ],
          [],
          ctx.approverAvailable,
        );
      }
      const user = userRules();
      const sandboxRoot = normalizeRoot(ctx.sandboxRoot);
      const handoffHome = normalizeRoot(ctx.handoffHome);
      const analyzer = new Analyzer({
        parser,
        rules: [...builtIn, ...user.rules],
        protectedPaths: protectedMatcher(
          [...DEFAULT_PROTECTED_PATHS, ...user.protectedPaths],
          home,
          handoffHome,
          sandboxRoot,
        ),
        sandboxRoot,
        realRoot: realPathOfExisting(sandboxRoot),
        home,
        handoffHome,
        isolated: ctx.isolated === true,
      });
      try {
        analyzer.analyze(command, posix.resolve(sandboxRoot, ctx.cwd));
      } catch (err) {
        // A bug in the guard must not let a command through.
        return decide(
          [
            {
              decision: 'ask',
              rule: 'ask.guard-error',
              reason: `the guard could not judge it (${(err as Error).message})`,
              liftable: false,
            },
          ],
          [],
          ctx.approverAvailable,
        );
      }
      return decide(analyzer.findings, analyzer.allowedBy, ctx.approverAvailable);
    },
  };
}
