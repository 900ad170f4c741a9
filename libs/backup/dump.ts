import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BackupManifest } from '@handoff/contracts';
import { databaseFacts, missingRows, withClient } from './database.ts';
import { describeFiles } from './files.ts';
import { DUMP } from './layout.ts';
import { findClientTool } from './pgClient.ts';
import { settleRestoredRun } from './runs.ts';
import type { RestoreResult } from './physicalRestore.ts';

const run = promisify(execFile);

/** The URL without its password, and the password for PGPASSWORD: never on a command line `ps` shows. */
function connectionFor(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env, LC_MESSAGES: 'C' };
  if (password) env.PGPASSWORD = password;
  return { dbname: u.toString(), env };
}

async function serverMajor(client: { query: (q: string) => Promise<{ rows: { v: string }[] }> }): Promise<number> {
  const { rows } = await client.query(`SELECT current_setting('server_version_num') AS v`);
  return Math.floor(Number(rows[0]!.v) / 10_000);
}

function toolFailure(tool: string, err: unknown): Error {
  const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
  const line =
    stderr.split('\n').findLast((l) => l.trim() !== '') ?? (err instanceof Error ? err.message : String(err));
  return new Error(`${tool} failed: ${line}`, { cause: err });
}

/**
 * A backup of your own Postgres (DATABASE_URL) with pg_dump's custom format, from an exported
 * snapshot that the row counts are taken in too, so the manifest's counts are the dump's exactly.
 */
export async function takeDumpBackup(opts: { url: string; dir: string }): Promise<BackupManifest> {
  const startedAt = new Date().toISOString();
  return withClient(opts.url, async (client) => {
    const pgDump = await findClientTool('pg_dump', await serverMajor(client));
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const snapshot = rows[0]!.id;
      const facts = await databaseFacts(client, { inTransaction: true });
      const { dbname, env } = connectionFor(opts.url);
      try {
        await run(
          pgDump.path,
          ['--format=custom', `--snapshot=${snapshot}`, `--file=${path.join(opts.dir, DUMP)}`, `--dbname=${dbname}`],
          { env, maxBuffer: 16 * 1024 * 1024 },
        );
      } catch (err) {
        throw toolFailure('pg_dump', err);
      }
      return {
        format: 'handoff-backup/1',
        method: 'pg_dump',
        startedAt,
        finishedAt: new Date().toISOString(),
        ...facts,
        files: await describeFiles(opts.dir),
      } satisfies BackupManifest;
    } finally {
      await client.query('COMMIT').catch(() => {});
    }
  });
}

/**
 * A pg_dump backup into the DATABASE_URL database: refused when it already holds intents (unless
 * `force`), restored in one transaction, the node group's grants made again (roles are the server's,
 * not the dump's), then the counts checked.
 */
export async function restoreDump(opts: {
  url: string;
  backupDir: string;
  manifest: BackupManifest;
  force: boolean;
}): Promise<RestoreResult> {
  return withClient(opts.url, async (client) => {
    const pgRestore = await findClientTool('pg_restore', await serverMajor(client));
    // the table is looked up first: a statement naming a missing table fails at parse time
    const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('public.intents')::text AS t`);
    const holdsTables = rows[0]!.t !== null;
    const url = new URL(opts.url);
    const where = `database ${decodeURIComponent(url.pathname.slice(1))} on ${url.host}`;
    if (holdsTables && !opts.force) {
      throw new Error(
        `${where} already holds handoff's tables; restore into an empty database, or pass --force to replace them`,
      );
    }
    const { dbname, env } = connectionFor(opts.url);
    try {
      await run(
        pgRestore.path,
        [
          '--clean',
          '--if-exists',
          '--single-transaction',
          '--no-owner',
          '--no-privileges',
          `--dbname=${dbname}`,
          path.join(opts.backupDir, DUMP),
        ],
        { env, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      throw toolFailure('pg_restore', err);
    }
    await client.query('SELECT handoff_grant_node_group()').catch(() => {});
    await settleRestoredRun(client, opts.backupDir, opts.manifest);
    const facts = await databaseFacts(client);
    const missing = missingRows(opts.manifest.counts, facts.counts);
    if (missing.length > 0) throw new Error(`the restored database lacks rows the backup holds: ${missing.join('; ')}`);
    return { counts: facts.counts, schemaVersion: facts.schemaVersion };
  });
}
