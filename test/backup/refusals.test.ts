import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createPool, migrate } from '@handoff/db';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import type { EmbeddedPostgresServer } from '@handoff/embedded-postgres';
import { removeHome } from '../support/removeHome.ts';
import { handoff, homeEnv, newHome } from './support.ts';

const homes: string[] = [];
function home(tag: string): string {
  const h = newHome(tag);
  homes.push(h);
  return h;
}
let backup = '';
let server: EmbeddedPostgresServer | undefined;

before(async () => {
  const source = home('src');
  server = await startEmbeddedPostgres({ home: source });
  const pool = createPool(server.url, { max: 2 });
  await migrate(pool);
  await pool.end();
  const taken = await handoff(['backup', '--to', home('out'), '--json'], homeEnv(source));
  assert.equal(taken.code, 0, taken.stderr);
  backup = (JSON.parse(taken.stdout) as { dir: string }).dir;
  await server.stop();
});
after(async () => {
  await server?.stop();
  for (const h of homes) removeHome(h);
});

test(
  'restore refuses a home that already holds a database unless --force, and with --force replaces it',
  { timeout: 600_000 },
  async () => {
    const target = home('twice');
    const first = await handoff(['restore', backup], homeEnv(target));
    assert.equal(first.code, 0, first.stderr);
    const again = await handoff(['restore', backup], homeEnv(target));
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^handoff: restore failed: .* already holds a database .*; restore into a new HANDOFF_HOME, or pass --force to replace it\n$/,
    );
    const forced = await handoff(['restore', backup, '--force'], homeEnv(target));
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /checksums ok/);
  },
);

test("restore refuses while the home's Postgres runs", { timeout: 600_000 }, async () => {
  const target = home('running');
  const running = await startEmbeddedPostgres({ home: target });
  try {
    const res = await handoff(['restore', backup, '--force'], homeEnv(target));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /the embedded Postgres of .* is running \(pid \d+\); stop handoff there first/);
  } finally {
    await running.stop();
  }
});

test(
  'a backup with a damaged file is refused with a sentence naming the file, and the target is left untouched',
  { timeout: 600_000 },
  async () => {
    const damaged = path.join(home('damaged'), 'copy');
    await fsp.cp(backup, damaged, { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(damaged, 'manifest.json'), 'utf8')) as {
      files: { path: string; size: number }[];
    };
    const victim = manifest.files.find((f) => f.path.startsWith('data/base/') && f.size > 8192)!;
    const file = path.join(damaged, victim.path);
    const bytes = readFileSync(file);
    bytes[4096] = bytes[4096]! ^ 0xff; // same size, one bit pattern changed
    writeFileSync(file, bytes);

    const target = home('damaged-target');
    const res = await handoff(['restore', damaged], homeEnv(target));
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      `handoff: restore failed: backup file ${victim.path} does not match its checksum in manifest.json (sha256 differs): the backup is damaged; use another\n`,
    );
    assert.equal(existsSync(path.join(target, 'pg.json')), false, 'nothing was written into the target');
    assert.equal(existsSync(path.join(target, 'pg')), false, 'no data dir was made');
  },
);

test(
  'restore names the problem with a directory that is not a backup, and a bad --to-time',
  { timeout: 120_000 },
  async () => {
    const target = home('notabackup');
    const res = await handoff(['restore', target], homeEnv(target));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /is not a handoff backup: it has no manifest\.json/);
    const bad = await handoff(['restore', backup, '--to-time', 'yesterday'], homeEnv(target));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--to-time.*must be an ISO 8601 time with a zone/);
    const early = await handoff(['restore', backup, '--to-time', '2001-01-01T00:00:00Z'], homeEnv(target));
    assert.equal(early.code, 1);
    assert.match(early.stderr, /is before this backup finished .*pick an older backup/);
  },
);
