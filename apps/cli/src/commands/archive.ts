import { open, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { ArchivedIntent } from '@handoff/contracts';
import { out, withClient } from '../context.ts';
import { CliError } from '../errors.ts';

/**
 * `handoff archive --before DATE --to FILE`: finished intents (succeeded, rejected, expired, dead)
 * created before DATE are appended to FILE as JSONL (one intent per line with its approvals,
 * attempts and receipts), the file is fsynced, and only then are they removed from the database.
 * Rerunning is harmless: an intent already in FILE is not written twice, and removing one already
 * gone removes nothing.
 */

const BATCH = 200;

/** `2026-01-31` (midnight UTC) or an ISO date-time with its offset; never in the future. */
export function parseBefore(value: string): string {
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/.test(text) || Number.isNaN(at))
    throw new InvalidArgumentError('must be a date (2026-01-31, midnight UTC) or a date-time with offset');
  if (at > Date.now()) throw new InvalidArgumentError('must not be in the future');
  return new Date(at).toISOString();
}

/**
 * The ids already in an archive file from an earlier run, and the length of its complete lines: a
 * torn last line (a crash mid-write, before the fsync) is cut off, since its intent was not removed.
 */
async function readArchive(file: string): Promise<{ ids: Set<string>; whole: number; newline: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: new Set(), whole: 0, newline: false };
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const ids = new Set<string>();
  let whole = 0;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const last = i === lines.length - 1;
    if (line.trim() !== '') {
      try {
        ids.add(ArchivedIntent.parse(JSON.parse(line)).intent.id);
      } catch {
        if (last) break;
        throw new CliError(`${file} line ${i + 1} is not an archived intent: is it the right file?`);
      }
    }
    whole += Buffer.byteLength(line) + (last ? 0 : 1);
  }
  // a last line kept whole but without its newline gets one before anything is appended
  return { ids, whole, newline: lines.at(-1)?.trim() !== '' && whole === Buffer.byteLength(text) };
}

export function registerArchiveCommand(program: Command): void {
  program
    .command('archive')
    .description(
      'write finished intents created before a date to a JSONL file (fsynced), then remove them from the database',
    )
    .requiredOption('--before <date>', 'intents created before this date (2026-01-31 is midnight UTC)', parseBefore)
    .requiredOption('--to <file>', 'the JSONL file to append to (created 0600)')
    .addOption(new Option('--json', 'print {file, written, removed}'))
    .action(async (options: { before: string; to: string; json?: boolean }) => {
      const file = resolve(options.to);
      const { ids: already, whole, newline } = await readArchive(file);
      const handle = await open(file, 'a', 0o600).catch((err: Error) => {
        throw new CliError(`cannot open ${file}: ${err.message}`);
      });
      await handle.truncate(whole);
      if (newline) await handle.write('\n');
      let written = 0;
      let removed = 0;
      try {
        // a new file's name must survive a crash too
        const dir = await open(dirname(file), 'r');
        await dir.sync().finally(() => dir.close());
        await withClient(async (client) => {
          let after: string | undefined;
          for (;;) {
            const { intents } = await client.archiveBatch({ before: options.before, after, limit: BATCH });
            if (intents.length === 0) return;
            const fresh = intents.filter((i) => !already.has(i.intent.id));
            if (fresh.length > 0) {
              await handle.write(fresh.map((i) => `${JSON.stringify(i)}\n`).join(''));
              await handle.sync();
              written += fresh.length;
            }
            const ids = intents.map((i) => i.intent.id);
            removed += (await client.archiveRemove({ ids, file, before: options.before })).removed.length;
            after = ids[ids.length - 1];
          }
        });
      } finally {
        await handle.close();
      }
      if (options.json) return out(JSON.stringify({ file, written, removed }));
      out(
        written + removed === 0
          ? `nothing to archive: no finished intent was created before ${options.before}`
          : `wrote ${written} intent(s) to ${file} and removed ${removed} from the database`,
      );
    });
}
