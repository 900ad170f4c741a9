import pg from 'pg';

/** The tables that are the record: a restore must bring back at least as many rows of each. */
export const RECORD_TABLES = ['intents', 'attempts', 'receipts', 'approvals', 'audit_log'] as const;

export interface DatabaseFacts {
  schemaVersion: string;
  postgresVersion: string;
  counts: Record<string, number>;
}

/** Row counts of the record tables in one snapshot, the newest migration, the server's version. */
export async function databaseFacts(
  client: pg.ClientBase,
  opts: { inTransaction?: boolean } = {},
): Promise<DatabaseFacts> {
  if (!opts.inTransaction) await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const counts: Record<string, number> = {};
    for (const table of RECORD_TABLES) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${client.escapeIdentifier(table)}`);
      counts[table] = Number(rows[0]!.n);
    }
    const { rows: v } = await client.query<{ name: string | null; version: string }>(
      `SELECT (SELECT max(name) FROM handoff_migrations) AS name, current_setting('server_version') AS version`,
    );
    return { schemaVersion: v[0]!.name ?? '', postgresVersion: v[0]!.version, counts };
  } finally {
    if (!opts.inTransaction) await client.query('COMMIT');
  }
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'handoff-backup' });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Where the restored database has fewer rows than the backup counted: one sentence per table, or none. */
export function missingRows(expected: Record<string, number>, actual: Record<string, number>): string[] {
  return Object.entries(expected)
    .filter(([table, n]) => (actual[table] ?? 0) < n)
    .map(([table, n]) => `${table}: ${actual[table] ?? 0} rows, the backup counted ${n}`);
}
