import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import type { EmbeddedPostgresServer } from '@handoff/embedded-postgres';
import { queryRows as query } from '../support/database.ts';
import { spawnDbChild as spawnChild } from '../support/dbChildProcess.ts';
import { atEnd, isAlive, tempHome, waitFor } from './support.ts';

describe('embedded Postgres', () => {
  const started: EmbeddedPostgresServer[] = [];
  after(async () => {
    for (const s of started) await s.stop();
  });
  async function start(home: string): Promise<EmbeddedPostgresServer> {
    const s = await startEmbeddedPostgres({ home });
    started.push(s);
    return s;
  }

  test('embedded Postgres reuses its data directory across restarts', async () => {
    const home = tempHome();
    const first = await start(home);
    assert.equal(first.fresh, true);
    assert.equal(first.reused, false);
    await query(first.url, 'CREATE TABLE kept (v text)');
    await query(first.url, 'INSERT INTO kept VALUES ($1)', ['still here']);
    await first.stop();
    await first.stop(); // idempotent
    assert.equal(isAlive(first.pid), false);

    const config = JSON.parse(readFileSync(path.join(home, 'pg.json'), 'utf8')) as { port: number };
    assert.equal(statSync(path.join(home, 'pg.json')).mode & 0o777, 0o600);

    const t0 = performance.now();
    const second = await start(home);
    const warmMs = performance.now() - t0;
    assert.equal(second.fresh, false, 'the second start must not run initdb again');
    assert.equal(second.reused, false);
    assert.equal(second.port, config.port);
    assert.equal(second.dataDir, first.dataDir);
    assert.deepEqual(await query(second.url, 'SELECT v FROM kept'), [{ v: 'still here' }]);
    await second.stop();
    assert.ok(warmMs < 10_000, `warm start took ${Math.round(warmMs)} ms`);
  });

  test(
    'a home deleted and made again at the same path starts afresh, its old cluster kept aside',
    { skip: process.getuid?.() === 0 ? false : 'only root keeps data outside the home' },
    async () => {
      const home = tempHome();
      const first = await start(home);
      await first.stop();
      // the home goes (with pg.json and the pg symlink), the data under /var/lib/handoff stays
      rmSync(home, { recursive: true, force: true });
      const again = await start(home);
      assert.equal(again.fresh, true, "a new cluster, since nobody holds the old one's password");
      assert.ok(
        existsSync(path.join(path.dirname(again.dataDir), 'pg.orphaned', 'PG_VERSION')),
        'the old cluster is kept aside',
      );
      await again.stop();
    },
  );

  test('a second launcher on the same home reuses the running server', async () => {
    const home = tempHome();
    const owner = await start(home);
    const joiner = await start(home);
    assert.equal(joiner.reused, true);
    assert.equal(joiner.adopted, false, 'the owner is alive');
    assert.equal(joiner.url, owner.url);
    assert.equal(joiner.pid, owner.pid);
    await joiner.stop(); // must not stop the owner's server
    assert.deepEqual(await query(owner.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    await owner.stop();
    assert.equal(isAlive(owner.pid), false);
  });

  test('two launchers starting at once on a fresh home share one server', async () => {
    const home = tempHome();
    const a = spawnChild(['own', home]);
    const b = spawnChild(['own', home]);
    const infos = (await Promise.all([a.line, b.line])) as { url: string; pid: number; reused: boolean }[];
    assert.deepEqual(infos.map((i) => i.reused).sort(), [false, true]);
    assert.equal(infos[0]?.url, infos[1]?.url);
    assert.equal(infos[0]?.pid, infos[1]?.pid);
    const [joiner, owner] = infos[0]?.reused ? [a, b] : [b, a];
    joiner.child.kill('SIGTERM');
    await joiner.exit;
    assert.deepEqual(await query(infos[0]?.url ?? '', 'SELECT 1 AS one'), [{ one: 1 }]);
    owner.child.kill('SIGTERM');
    await owner.exit;
    await waitFor('the postmaster to exit', () => !isAlive(infos[0]?.pid ?? 0));
  });

  test('the embedded server listens on 127.0.0.1 only', async () => {
    const home = tempHome();
    chmodSync(home, 0o755); // as root, this keeps the data dir in place instead of /var/lib/handoff
    const s = await start(home);
    const rows = await query<{ la: string; sock: string; db: string }>(
      s.url,
      "SELECT current_setting('listen_addresses') AS la, current_setting('unix_socket_directories') AS sock, current_database() AS db",
    );
    assert.deepEqual(rows, [{ la: '127.0.0.1', sock: '', db: 'handoff' }]);
    assert.match(s.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/handoff$/);
    await s.stop();
  });

  test('a stale postmaster.pid left by a crash does not block the next start', async () => {
    const home = tempHome();
    const s = await start(home);
    await s.stop();
    const pidFile = path.join(s.dataDir, 'postmaster.pid');
    // A pid that is certainly dead: a child that has already exited.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    writeFileSync(pidFile, `${dead.pid}\n${s.dataDir}\n0\n${s.port}\n\n127.0.0.1\n0 0\nready\n`);
    const again = await start(home);
    assert.equal(again.reused, false);
    assert.deepEqual(await query(again.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    await again.stop();
  });

  test('SIGTERM to a process owning the embedded server shuts Postgres down cleanly', async () => {
    const home = tempHome();
    const proc = spawnChild(['own', home]);
    const info = (await proc.line) as { url: string; pid: number; dataDir: string };
    assert.ok(isAlive(info.pid));
    assert.deepEqual(await query(info.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exit, 128 + 15);
    await waitFor('the postmaster to exit', () => !isAlive(info.pid));
    assert.equal(
      existsSync(path.join(info.dataDir, 'postmaster.pid')),
      false,
      'a clean shutdown removes postmaster.pid',
    );
  });

  test('a server whose owner was killed (SIGKILL) is taken over by the next launcher, which stops it', async () => {
    const home = tempHome();
    const proc = spawnChild(['own', home]);
    const info = (await proc.line) as { pid: number; dataDir: string };
    proc.child.kill('SIGKILL'); // no handler, no 'exit' event: the server runs on alone
    await proc.exit;
    await sleep(200);
    assert.ok(isAlive(info.pid), 'Postgres outlives a killed owner');
    const next = await start(home);
    assert.equal(next.reused, true);
    assert.equal(next.adopted, true);
    assert.equal(next.pid, info.pid);
    assert.deepEqual(await query(next.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    await next.stop();
    await waitFor('the postmaster to exit', () => !isAlive(info.pid));
    assert.equal(existsSync(path.join(info.dataDir, 'postmaster.pid')), false, 'stopped cleanly');
  });

  test('a backend left behind by a SIGKILLed postmaster is killed before the next start, which then recovers', async () => {
    const home = tempHome();
    const s = await start(home);
    await query(s.url, 'CREATE TABLE survived (v text)');
    await query(s.url, "INSERT INTO survived VALUES ('committed before the kill')");
    const client = new pg.Client({ connectionString: s.url });
    client.on('error', () => {});
    await client.connect();
    const [{ pid: backend } = { pid: 0 }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
      .rows;
    // a stopped backend cannot notice its postmaster's death: it stays attached to the old shared memory
    process.kill(backend, 'SIGSTOP');
    atEnd(() => {
      if (isAlive(backend)) process.kill(backend, 'SIGKILL'); // when the test fails
    });
    process.kill(s.pid, 'SIGKILL');
    await waitFor('the postmaster to die', () => !isAlive(s.pid));
    assert.ok(isAlive(backend), 'the backend outlives its postmaster');
    const again = await start(home);
    assert.equal(again.port, s.port);
    assert.equal(isAlive(backend), false, 'the leftover backend was killed');
    assert.deepEqual(await query(again.url, 'SELECT v FROM survived'), [{ v: 'committed before the kill' }]);
    await client.end().catch(() => {});
    await again.stop();
  });

  test('an owner that exits without stop() still takes Postgres down with it', async () => {
    const home = tempHome();
    const proc = spawnChild(['own-exit', home]);
    const info = (await proc.line) as { pid: number; dataDir: string };
    assert.equal(await proc.exit, 0);
    await waitFor('the postmaster to exit', () => !isAlive(info.pid));
    await waitFor('postmaster.pid to be removed', () => !existsSync(path.join(info.dataDir, 'postmaster.pid')));
  });
});
