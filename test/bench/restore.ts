/**
 * RTO: how long `handoff restore` takes to bring back an installation holding N intents (each with
 * its attempt and success receipt), beside the same restore of an empty installation measured in the
 * same run (the fixed cost: checksums of the cluster's own files, the copy, recovery, one start and
 * stop of Postgres). Also the backup's time and size. Each home is a fresh embedded Postgres.
 *
 *   node test/bench/restore.ts [--intents=100000]     or    npm run bench -- --only=restore
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedSourceFor, restoreBackup, takeBackup } from '@handoff/backup';
import { createPool, migrate } from '@handoff/db';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import { removeHome } from '../support/removeHome.ts';
import { progress, round, withRatio } from './report.ts';
import type { BenchFigure, BenchOptions } from './report.ts';

interface Measured {
  backupMs: number;
  restoreMs: number;
  bytes: number;
}

/** One installation with `n` intents: backed up, then restored into a fresh home. */
async function measure(n: number): Promise<Measured> {
  const source = mkdtempSync(join(tmpdir(), 'handoff-bench-restore-src-'));
  const target = mkdtempSync(join(tmpdir(), 'handoff-bench-restore-dst-'));
  try {
    const server = await startEmbeddedPostgres({ home: source });
    const pool = createPool(server.url, { max: 2 });
    let taken;
    try {
      await migrate(pool);
      // the rows a succeeded noop intent leaves: the intent, its attempt, its receipt
      await pool.query(
        `WITH i AS (
           INSERT INTO intents (id, idempotency_key, channel, account, payload, payload_hash, state, requires_approval,
             max_attempts, attempt_count, lease_epoch)
           SELECT gen_random_uuid(), 'bench-' || g, 'noop', 'default', jsonb_build_object('n', g), md5(g::text),
             'succeeded', false, 5, 1, 1
           FROM generate_series(1, $1::int) g RETURNING id),
         a AS (INSERT INTO attempts (intent_id, attempt_no, lease_epoch, executor_id, finished_at, outcome)
           SELECT id, 1, 1, 'bench', clock_timestamp(), 'succeeded' FROM i)
         INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, external_id, executor_id, source)
         SELECT id, 1, 1, 'success', 'noop-' || id, 'bench', 'execute' FROM i`,
        [n],
      );
      progress('restore', `${n} intents written; backing up`);
      taken = await takeBackup({
        url: server.url,
        pool,
        embedded: await embeddedSourceFor(source, server.url),
        to: join(source, 'backups'),
        kind: 'manual',
      });
    } finally {
      await pool.end();
      await server.stop();
    }
    progress('restore', `backup of ${n} intents in ${Math.round(taken.ms)} ms; restoring`);
    const restored = await restoreBackup({
      backupDir: taken.dir,
      home: target,
      target: { kind: 'backup' },
      force: false,
    });
    if ((restored.counts.intents ?? 0) < n) throw new Error(`restored ${restored.counts.intents} intents of ${n}`);
    return {
      backupMs: taken.ms,
      restoreMs: restored.ms,
      bytes: taken.manifest.files.reduce((s, f) => s + f.size, 0),
    };
  } finally {
    removeHome(source);
    removeHome(target);
  }
}

export async function restoreBench(
  opts: BenchOptions,
  intents = opts.quick ? 10_000 : 100_000,
): Promise<BenchFigure[]> {
  const empty = await measure(0);
  const full = await measure(intents);
  const settings = { intents, rowsPerIntent: 'intent + attempt + success receipt', target: 'the backup as taken' };
  return [
    withRatio({
      section: 'restore',
      name: `RTO: handoff restore of ${intents} intents (s)`,
      value: round(full.restoreMs / 1000),
      unit: 's',
      baseline: { name: 'restore of an empty installation (s)', value: round(empty.restoreMs / 1000) },
      note: 'ratio above 1 is what the rows cost over the fixed cost of a restore',
      settings,
    }),
    withRatio({
      section: 'restore',
      name: `handoff backup of ${intents} intents (s)`,
      value: round(full.backupMs / 1000),
      unit: 's',
      baseline: { name: 'backup of an empty installation (s)', value: round(empty.backupMs / 1000) },
      settings,
    }),
    withRatio({
      section: 'restore',
      name: `backup size, ${intents} intents (MB)`,
      value: round(full.bytes / 1e6, 1),
      unit: 'MB',
      baseline: { name: 'backup size, empty installation (MB)', value: round(empty.bytes / 1e6, 1) },
      settings,
    }),
  ];
}

if (import.meta.main) {
  const arg = process.argv.find((a) => a.startsWith('--intents='));
  const figures = await restoreBench(
    { json: false, quick: false },
    arg ? Number(arg.slice('--intents='.length)) : undefined,
  );
  for (const f of figures) {
    process.stdout.write(
      `${f.name}: ${f.value} ${f.unit}; ${f.baseline?.name}: ${f.baseline?.value} ${f.unit} (ratio ${f.ratio})\n`,
    );
  }
}
