import { CommanderError } from 'commander';
import type { z } from 'zod';

/**
 * Every way the CLI can fail, and the one place (`describeError`) that turns a failure into one
 * readable line and an exit code: 0 ok, 1 failure, 2 usage.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure whose message is already the line to print (without the `handoff: ` prefix). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_FAILURE) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad input found after commander parsed it (an environment variable, a combination of options). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** The coordinator could not be reached at all: nothing answered. */
export class CoordinatorUnreachable extends Error {
  readonly url: string;
  readonly reason: string;
  constructor(url: string, reason: string) {
    super(`cannot reach ${url}: ${reason}`);
    this.name = 'CoordinatorUnreachable';
    this.url = url;
    this.reason = reason;
  }
}

/** The coordinator accepted the connection but gave no answer in time. */
export class CoordinatorTimeout extends Error {
  readonly url: string;
  readonly seconds: number;
  constructor(url: string, seconds: number) {
    super(`no answer from ${url} within ${seconds}s`);
    this.name = 'CoordinatorTimeout';
    this.url = url;
    this.seconds = seconds;
  }
}

/** The coordinator answered with a status >= 400 and (usually) `{error: {code, message, details?}}`. */
export class CoordinatorError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'CoordinatorError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * The coordinator answered, but not with what the contract says (a coordinator of another version,
 * a proxy's page): the first few problems, each naming the field.
 */
export class UnexpectedAnswer extends Error {
  readonly url: string;
  readonly request: string;
  readonly problems: string[];
  constructor(url: string, request: string, error: z.ZodError) {
    const problems = error.issues.map(
      (issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the answer'}: ${issue.message}`,
    );
    super(`unexpected answer to ${request} from ${url}: ${problems.join('; ')}`);
    this.name = 'UnexpectedAnswer';
    this.url = url;
    this.request = request;
    this.problems = problems;
  }
}

/** Problems an UnexpectedAnswer line names before it says how many more there are. */
const PROBLEMS_SHOWN = 3;

export interface DescribedError {
  /** One line, starting with `handoff: `, no trailing newline. Never a raw error code. */
  line: string;
  /**
   * The same failure for `--json`: one line of `{"error":{"code","message","id"?}}`. `code` is the
   * coordinator's error code, or the CLI's own: coordinator_unreachable, coordinator_timeout,
   * unexpected_answer, usage, failed, internal.
   */
  json: string;
  exitCode: number;
  /** A failure that makes every further request pointless (unreachable, bad token). */
  fatal: boolean;
}

/** Commander already printed its own message for these; we only pick the exit code. */
export function isCommanderError(err: unknown): err is CommanderError {
  return err instanceof CommanderError;
}

export function describeError(err: unknown, subject?: string): DescribedError {
  const { line, exitCode, fatal, code } = describe(err, subject);
  const message = line.replace(/^handoff: /, '');
  const id =
    subject && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(subject) ? subject : null;
  const json = JSON.stringify({ error: { code, message, ...(id ? { id } : {}) } });
  return { line, json, exitCode, fatal };
}

/** Whether the command line asks for JSON (`--json` before any `--`): then failures are JSON too. */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function describe(err: unknown, subject?: string): Omit<DescribedError, 'json'> & { code: string } {
  const prefix = subject ? `handoff: ${subject}: ` : 'handoff: ';
  if (err instanceof CoordinatorUnreachable) {
    return {
      line: `handoff: cannot reach the coordinator at ${err.url} (${err.reason}). Is it running? Start it with \`handoff start\`.`,
      exitCode: EXIT_FAILURE,
      fatal: true,
      code: 'coordinator_unreachable',
    };
  }
  if (err instanceof CoordinatorTimeout) {
    return {
      line: `handoff: the coordinator at ${err.url} did not answer within ${err.seconds}s.`,
      exitCode: EXIT_FAILURE,
      fatal: true,
      code: 'coordinator_timeout',
    };
  }
  if (err instanceof CoordinatorError) {
    if (err.status === 401) {
      const why = /^this token was (revoked|expired)$/.exec(err.message)?.[1];
      return {
        line: why
          ? `handoff: the token was refused: it was ${why}. Use another token (HANDOFF_TOKEN), or ask an operator for one (\`handoff token create\`).`
          : 'handoff: the token was refused (401 unauthorized). Set HANDOFF_TOKEN or check $HANDOFF_HOME/operator.token.',
        exitCode: EXIT_FAILURE,
        fatal: true,
        code: err.code,
      };
    }
    if (err.status === 403) {
      return {
        line: `handoff: this token's role may not do that (403 forbidden): ${oneLine(err.message).replace(/\.$/, '')}. Use an operator token.`,
        exitCode: EXIT_FAILURE,
        fatal: true,
        code: err.code,
      };
    }
    // the coordinator's message says what is wrong in words; its code is for scripts (--json)
    return {
      line: `${prefix}${oneLine(err.message).replace(/\.$/, '')}`,
      exitCode: EXIT_FAILURE,
      fatal: false,
      code: err.code,
    };
  }
  if (err instanceof UnexpectedAnswer) {
    const shown = err.problems.slice(0, PROBLEMS_SHOWN).map(oneLine).join('; ');
    const more = err.problems.length > PROBLEMS_SHOWN ? ` (and ${err.problems.length - PROBLEMS_SHOWN} more)` : '';
    return {
      line: `handoff: the coordinator at ${err.url} answered ${err.request} with something this CLI does not understand: ${shown}${more}. Are the CLI and the coordinator the same version?`,
      exitCode: EXIT_FAILURE,
      fatal: true,
      code: 'unexpected_answer',
    };
  }
  if (err instanceof CliError) {
    return {
      line: `${prefix}${oneLine(err.message)}`,
      exitCode: err.exitCode,
      fatal: err.exitCode === EXIT_USAGE,
      code: err.exitCode === EXIT_USAGE ? 'usage' : 'failed',
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    line: `${prefix}internal error: ${oneLine(message)}`,
    exitCode: EXIT_FAILURE,
    fatal: true,
    code: 'internal',
  };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
