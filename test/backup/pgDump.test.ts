import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { findClientTool } from '@handoff/backup';
import { createPool, migrate } from '@handoff/db';
import { createTestDatabase, databaseUrlFor } from '../support/database.ts';
import { removeHome } from '../support/removeHome.ts';
import { handoff, newHome, query } from './support.ts';

/** The machine's own Postgres 15 (Debian's), where pg_dump 15 is a compatible client. */
const PG15 = process.env.HANDOFF_TEST_PG15_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    return Math.floor(Number(rows[0]!.v) / 10_000);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function scratchDatabase(serverUrl: string): Promise<string> {
  const name = `handoff_bk_${randomBytes(5).toString('hex')}`;
  await query(serverUrl, `CREATE DATABASE ${name}`);
  cleanups.push(() => query(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => {}));
  return databaseUrlFor(serverUrl, name);
}

async function seed(url: string, n: number): Promise<void> {
  const pool = createPool(url, { max: 2 });
  try {
    await migrate(pool);
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      await pool.query(
        `INSERT INTO intents (id, idempotency_key, channel, account, payload, payload_hash, state, requires_approval, max_attempts)
         VALUES ($1, $2, 'noop', 'default', '{}', 'h', 'succeeded', false, 5)`,
        [id, `dump-${i}`],
      );
      await pool.query(
        `INSERT INTO receipts (intent_id, kind, external_id, source) VALUES ($1, 'success', $2, 'execute')`,
        [id, `ext-${i}`],
      );
    }
  } finally {
    await pool.end();
  }
}

const rowsOf = (url: string): Promise<unknown[]> =>
  query(url, `SELECT i.idempotency_key, r.external_id FROM intents i JOIN receipts r ON r.intent_id = i.id ORDER BY 1`);

test(
  'on your own Postgres, backup uses pg_dump and restore brings every intent and receipt back into an empty database',
  { timeout: 300_000 },
  async (t) => {
    const major = await reachable(PG15);
    if (major === undefined)
      return t.skip(`no Postgres at ${PG15.replace(/:[^:@/]*@/, '@')} (set HANDOFF_TEST_PG15_URL)`);
    try {
      await findClientTool('pg_dump', major);
    } catch (err) {
      return t.skip(`no pg_dump for Postgres ${major} here: ${(err as Error).message}`);
    }
    const source = await scratchDatabase(PG15);
    await seed(source, 5);
    const home = newHome('dump');
    cleanups.push(() => removeHome(home));

    const taken = await handoff(['backup', '--to', home, '--json'], { HANDOFF_HOME: home, DATABASE_URL: source });
    assert.equal(taken.code, 0, taken.stderr);
    const { dir, manifest } = JSON.parse(taken.stdout) as {
      dir: string;
      manifest: { method: string; counts: Record<string, number>; files: { path: string }[] };
    };
    assert.equal(manifest.method, 'pg_dump');
    assert.equal(manifest.counts.intents, 5);
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ['handoff.dump'],
    );
    const runs = await query<{ status: string; kind: string }>(source, `SELECT status, kind FROM backup_runs`);
    assert.deepEqual(runs, [{ status: 'ok', kind: 'manual' }]);

    const target = await scratchDatabase(PG15);
    const restored = await handoff(['restore', dir], { HANDOFF_HOME: home, DATABASE_URL: target });
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /^restored .* into the DATABASE_URL database in .*checksums ok, 5 intents/);
    assert.deepEqual(await rowsOf(target), await rowsOf(source));
    // the backup's own row, still running inside the snapshot, is finished as it finished in the source
    assert.deepEqual(await query(target, `SELECT status, dir FROM backup_runs`), [{ status: 'ok', dir }]);

    const again = await handoff(['restore', dir], { HANDOFF_HOME: home, DATABASE_URL: target });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds handoff's tables; restore into an empty database, or pass --force/);
    const forced = await handoff(['restore', dir, '--force'], { HANDOFF_HOME: home, DATABASE_URL: target });
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await rowsOf(target), await rowsOf(source));
  },
);

test(
  'a pg_dump older than the server is refused with what to install, and the failed backup is recorded',
  { timeout: 300_000 },
  async (t) => {
    const tdb = await createTestDatabase();
    cleanups.push(() => tdb.drop());
    const major = (await reachable(tdb.url))!;
    try {
      const found = await findClientTool('pg_dump', major);
      return t.skip(`pg_dump ${found.major} here can back up Postgres ${major}: no older-client case to show`);
    } catch {
      // the case under test: no client new enough
    }
    const home = newHome('old-client');
    cleanups.push(() => removeHome(home));
    const res = await handoff(['backup', '--to', home], { HANDOFF_HOME: home, DATABASE_URL: tdb.url });
    assert.equal(res.code, 1);
    assert.match(
      res.stderr,
      new RegExp(
        `^handoff: backup failed: your Postgres is version ${major} and (only pg_dump \\d+.* was found, older than the server|no pg_dump was found .*); ` +
          `install PostgreSQL ${major} client tools \\(Debian/Ubuntu: apt-get install postgresql-client-${major}.*brew install postgresql@${major}\\) and run it again\\n$`,
      ),
    );
    const runs = await query<{ status: string; error: string }>(tdb.url, `SELECT status, error FROM backup_runs`);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, 'failed');
    assert.match(runs[0]!.error, /install PostgreSQL/);
  },
);
