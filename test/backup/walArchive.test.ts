import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import { removeHome } from '../support/removeHome.ts';
import { eventually, newHome, query } from './support.ts';

const homes: string[] = [];
after(() => {
  for (const h of homes) removeHome(h);
});

test(
  "the embedded Postgres archives every WAL segment, gzip'd, into $HANDOFF_HOME/backups/wal within archive_timeout 60 s",
  { timeout: 300_000 },
  async () => {
    const home = newHome('wal');
    homes.push(home);
    const server = await startEmbeddedPostgres({ home });
    try {
      const settings = await query<{ name: string; setting: string }>(
        server.url,
        `SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_timeout') ORDER BY name`,
      );
      assert.deepEqual(settings, [
        { name: 'archive_mode', setting: 'on' },
        { name: 'archive_timeout', setting: '60' },
      ]);
      const [{ file }] = (await query<{ file: string }>(
        server.url,
        // something written, so there is a segment to switch; pg_switch_wal answers a position in the one it closed
        `SELECT pg_walfile_name(pg_switch_wal()) AS file FROM (SELECT txid_current()) s`,
      )) as [{ file: string }];
      const archive = path.join(home, 'backups', 'wal');
      await eventually(`${file}.gz in ${archive}`, async () => existsSync(path.join(archive, `${file}.gz`)));
      const segment = gunzipSync(readFileSync(path.join(archive, `${file}.gz`)));
      assert.equal(segment.length, 16 * 1024 * 1024, 'a whole segment, decompressed');
      assert.ok(!readdirSync(archive).some((n) => n.endsWith('.part')), 'no half-written segment left');
      const [{ failed }] = (await query<{ failed: string }>(
        server.url,
        `SELECT failed_count AS failed FROM pg_stat_archiver`,
      )) as [{ failed: string }];
      assert.equal(Number(failed), 0);
    } finally {
      await server.stop();
    }
  },
);
