import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import type { PgBoss } from 'pg-boss';
import { listBackups, pruneBackups, startBackupSchedule } from '@handoff/backup';
import type { BackupPolicy } from '@handoff/contracts';
import { createPool, migrate } from '@handoff/db';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import { startBoss } from '@handoff/intents';
import { removeHome } from '../support/removeHome.ts';
import { eventually, newHome } from './support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An error-level line sink: what an operator would see in the coordinator's log. */
function recordingLog(): { log: pino.Logger; errors: string[] } {
  const errors: string[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void (JSON.parse(line).level >= 50 && errors.push(line)) },
  );
  return { log, errors };
}

test(
  'two coordinators on one database take one scheduled backup per slot, and a failed one is an error log and a failed backup_runs row',
  { timeout: 600_000 },
  async () => {
    const home = newHome('schedule');
    cleanups.push(() => removeHome(home));
    const server = await startEmbeddedPostgres({ home });
    cleanups.push(() => server.stop());
    const pool = createPool(server.url, { max: 4 });
    cleanups.push(() => pool.end());
    await migrate(pool);
    const bosses: PgBoss[] = [];
    for (let i = 0; i < 2; i++) {
      const boss = await startBoss(server.url);
      bosses.push(boss);
      cleanups.push(() => boss.stop({ graceful: false, close: true, timeout: 5000 }));
    }
    let policy: BackupPolicy = { every: 86_400, keep: 3, dir: path.join(home, 'scheduled') };
    const { log, errors } = recordingLog();
    for (const boss of bosses) {
      const schedule = await startBackupSchedule({
        boss,
        pool,
        url: server.url,
        home,
        policy: () => policy,
        log,
        offerMs: 200,
      });
      cleanups.push(() => schedule.stop());
    }
    await eventually('a scheduled backup', async () => (await listBackups(policy.dir!)).length === 1, 240_000);
    // both keep offering for a while: still one job in this day's slot
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await listBackups(policy.dir!)).length, 1, 'one backup for the slot, not one per coordinator');
    const { rows } = await pool.query<{ kind: string; status: string }>(`SELECT kind, status FROM backup_runs`);
    assert.deepEqual(rows, [{ kind: 'scheduled', status: 'ok' }]);

    // a directory that cannot be written: the next slot's backup fails, loudly
    const blocker = path.join(mkdtempSync(path.join(tmpdir(), 'handoff-backup-blocked-')), 'file');
    cleanups.push(() => removeHome(path.dirname(blocker)));
    writeFileSync(blocker, 'not a directory');
    policy = { every: 300, keep: 3, dir: path.join(blocker, 'backups') };
    await eventually(
      'a failed row',
      async () => (await pool.query(`SELECT 1 FROM backup_runs WHERE status = 'failed'`)).rowCount === 1,
      240_000,
    );
    const failed = await pool.query<{ error: string }>(`SELECT error FROM backup_runs WHERE status = 'failed'`);
    assert.match(failed.rows[0]!.error, /ENOTDIR|not a directory/);
    await eventually('the error in the log', async () => errors.some((l) => l.includes('scheduled backup failed')));
  },
);

test(
  'prune keeps the newest N backups, removes partial ones, and the WAL older than the oldest kept',
  { timeout: 600_000 },
  async () => {
    const home = newHome('prune');
    cleanups.push(() => removeHome(home));
    const server = await startEmbeddedPostgres({ home });
    const pool = createPool(server.url, { max: 2 });
    const { takeBackup, embeddedSourceFor } = await import('@handoff/backup');
    const to = path.join(home, 'keep');
    try {
      await migrate(pool);
      const embedded = (await embeddedSourceFor(home, server.url))!;
      for (let i = 0; i < 3; i++) {
        await takeBackup({ url: server.url, pool, embedded, to, kind: 'manual' });
        await pool.query('SELECT pg_switch_wal()');
      }
      const all = await listBackups(to);
      assert.equal(all.length, 3);
      const { removed, walRemoved } = await pruneBackups({ dir: to, keep: 1, walArchive: embedded.walArchive });
      assert.deepEqual(removed.sort(), all.slice(0, 2).sort());
      assert.deepEqual(await listBackups(to), all.slice(2));
      assert.ok(walRemoved > 0, 'WAL older than the kept backup was removed');
    } finally {
      await pool.end();
      await server.stop();
    }
  },
);
