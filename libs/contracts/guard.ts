import { z } from 'zod';

/**
 * The exec guard's rules (docs/guard.md). Built-in defaults ship in libs/agent/guard as data
 * validated by these schemas; `$HANDOFF_HOME/guard.json` adds rules on top of them.
 *
 * A rule matches one simple command (after quoting is removed and wrappers such as env, xargs,
 * timeout are unwrapped). Every condition given must hold; within a list any entry may match.
 */

export const GuardDecision = z.enum(['allow', 'ask', 'deny']);
export type GuardDecision = z.infer<typeof GuardDecision>;

/** Where a command's write targets (files it deletes, overwrites, moves, chmods) fall. */
export const GuardTarget = z.enum([
  /** a target resolves outside the sandbox root */
  'outside',
  /** a target cannot be resolved statically (a variable, a substitution, xargs input) */
  'unresolved',
  /** a target is a device under /dev (other than null, zero, tty, stdin/out/err, fd) */
  'device',
  /** a target is the sandbox root itself */
  'sandboxRoot',
]);
export type GuardTarget = z.infer<typeof GuardTarget>;

const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,79}$/, 'must be lower-case letters, digits, ".", "_" or "-", e.g. "deny.my-rule"');

/** A command name as run (`rm`, `mkfs.ext4`); a trailing `*` matches any suffix (`mkfs*`); `*` alone is any command. */
const CommandPattern = z
  .string()
  .regex(/^(\*|[A-Za-z0-9_.+:@-][A-Za-z0-9_.+:@-]*\*?)$/, 'must be a command name, optionally ending in "*", or "*"');

/** A JavaScript regular expression matched against a whole argument; a leading `(?i)` ignores case. */
const RegexSource = z
  .string()
  .min(1)
  .refine(
    (source) => {
      try {
        new RegExp(source.startsWith('(?i)') ? source.slice(4) : source);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a valid regular expression' },
  );

export const GuardRule = z.strictObject({
  id: RuleId,
  decision: GuardDecision,
  /** One line for the person reading the verdict. */
  reason: z.string().trim().min(1).max(300),
  commands: z.array(CommandPattern).min(1),
  /** The first operand (after the command's global options): `git push`, `systemctl stop`, `npm install`. */
  subcommands: z.array(z.string().min(1)).min(1).optional(),
  /** Any of these options present. `-f` also matches inside a bundle (`-fd`); `--force` also matches `--force=x`. */
  flags: z
    .array(z.string().regex(/^--?[A-Za-z0-9?][A-Za-z0-9_-]*$/, 'must be an option like "-f" or "--force"'))
    .min(1)
    .optional(),
  /** Any argument (after the command name) fully matching one of these regular expressions. */
  args: z.array(RegexSource).min(1).optional(),
  /** Where a write target of the command falls; only commands the guard knows write targets for can match. */
  target: GuardTarget.optional(),
});
export type GuardRule = z.infer<typeof GuardRule>;

/** `$HANDOFF_HOME/guard.json`. `{}` (or no file) means the built-in defaults alone. */
export const GuardFile = z.strictObject({
  rules: z.array(GuardRule).max(1000).default([]),
  /**
   * Extra protected paths (credentials): any command naming one is denied. Absolute, `~/`-relative
   * or `$HANDOFF_HOME/`-relative; `*` matches within one path segment, `**` any depth.
   */
  protectedPaths: z
    .array(z.string().regex(/^(\/|~\/|\$HANDOFF_HOME\/)/, 'must start with "/", "~/" or "$HANDOFF_HOME/"'))
    .max(1000)
    .default([]),
});
export type GuardFile = z.infer<typeof GuardFile>;
export type GuardFileInput = z.input<typeof GuardFile>;

export const GUARD_FILE = 'guard.json';
