import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildProgram } from './program.ts';
import { EXIT_OK, EXIT_USAGE, describeError, isCommanderError, jsonRequested } from './errors.ts';

/**
 * Entry point of `handoff`. Every failure ends here: one line on stderr, exit 1 (failure) or
 * 2 (usage), and no stack trace unless HANDOFF_DEBUG is set.
 */

function fail(err: unknown): number {
  if (isCommanderError(err)) {
    // Commander has printed its own message (or the help) already.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  const { line, json, exitCode } = describeError(err);
  // `--json` asked for JSON: a failure is JSON too (on stderr, so stdout holds only answers)
  process.stderr.write(`${jsonRequested(process.argv) ? json : line}\n`);
  if (process.env.HANDOFF_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const onFatal = (err: unknown): void => {
    process.exitCode = fail(err);
    process.exit();
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
  // `handoff live | head` closes stdout early; that is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    onFatal(err);
  });

  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = fail(err);
  }
}

const invokedDirectly = (() => {
  try {
    return (
      process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
})();

if (invokedDirectly) await main();
