import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPool, migrate, MigrationChecksumError } from '@handoff/db';
import { createTestDatabase, queryRows as query } from '../support/database.ts';
import { spawnDbChild } from '../support/dbChildProcess.ts';

const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function copyMigrations(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'handoff-mig-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MIGRATIONS, dir, { recursive: true });
  return dir;
}

describe('migrations', () => {
  test('migrations apply once and are recorded', async () => {
    const tdb = await createTestDatabase();
    cleanups.push(tdb.drop);
    const files = readdirSync(MIGRATIONS)
      .filter((f) => f.endsWith('.sql'))
      .sort();
    const rows = await query<{ name: string; checksum: string; applied_at: Date }>(
      tdb.url,
      'SELECT name, checksum, applied_at FROM handoff_migrations ORDER BY name',
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      files,
    );
    for (const r of rows) {
      const sum = createHash('sha256')
        .update(readFileSync(path.join(MIGRATIONS, r.name)))
        .digest('hex');
      assert.equal(r.checksum, sum);
      assert.ok(r.applied_at instanceof Date);
    }
    assert.deepEqual(await migrate(tdb.pool), { applied: [] });
    const [count] = await query<{ n: number }>(tdb.url, 'SELECT count(*)::int AS n FROM handoff_migrations');
    assert.equal(count?.n, files.length);
    // The schema itself is there.
    await query(tdb.url, 'SELECT id FROM intents LIMIT 0');
  });

  test('two processes migrating at once both succeed and apply each file once', async () => {
    const tdb = await createTestDatabase({ migrate: false });
    cleanups.push(tdb.drop);
    const dir = copyMigrations();
    // A slow file widens the window in which the others must wait; plain CREATE TABLE fails if run twice.
    writeFileSync(path.join(dir, '900_slow.sql'), 'SELECT pg_sleep(0.3);\nCREATE TABLE t_once_a (id int);\n');
    writeFileSync(path.join(dir, '901_next.sql'), 'CREATE TABLE t_once_b (id int);\n');
    const files = readdirSync(dir).sort();

    const second = createPool(tdb.url, { max: 2 });
    const proc = spawnDbChild(['migrate', tdb.url, dir]);
    const results = await Promise.all([
      migrate(tdb.pool, { dir }),
      migrate(second, { dir }),
      proc.line as Promise<{ applied: string[] }>,
    ]);
    assert.equal(await proc.exit, 0);
    await second.end();

    const applied = results.flatMap((r) => r.applied).sort();
    assert.deepEqual(applied, files, 'every file applied exactly once across the three callers');
    const rows = await query<{ name: string }>(tdb.url, 'SELECT name FROM handoff_migrations ORDER BY name');
    assert.deepEqual(
      rows.map((r) => r.name),
      files,
    );
  });

  test('a changed migration file is refused', async () => {
    const tdb = await createTestDatabase({ migrate: false });
    cleanups.push(tdb.drop);
    const dir = copyMigrations();
    const [first] = readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort();
    assert.ok(first);
    await migrate(tdb.pool, { dir });

    writeFileSync(path.join(dir, first), `${readFileSync(path.join(dir, first), 'utf8')}\n-- edited\n`);
    writeFileSync(path.join(dir, '999_new.sql'), 'CREATE TABLE t_never (id int);\n');
    await assert.rejects(migrate(tdb.pool, { dir }), (err: unknown) => {
      assert.ok(err instanceof MigrationChecksumError);
      assert.equal(err.file, first);
      assert.match(err.message, /changed after it was applied/);
      return true;
    });
    // Nothing after the refusal ran.
    const rows = await query<{ t: string | null }>(tdb.url, "SELECT to_regclass('t_never')::text AS t");
    assert.equal(rows[0]?.t, null);
  });
});
