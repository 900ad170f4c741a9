import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/ports.ts';
import { removeHome } from './support/removeHome.ts';
import pg from 'pg';
import {
  createPool,
  migrate,
  MigrationChecksumError,
  resolveDatabase,
  startEmbeddedPostgres,
  superviseEmbeddedPostgres,
} from '../libs/db/index.ts';
import type { EmbeddedPostgresServer } from '../libs/db/index.ts';
import { createTestDatabase } from './support/database.ts';

const MIGRATIONS = fileURLToPath(new URL('../migrations/', import.meta.url));
const CHILD = fileURLToPath(new URL('./support/dbChild.ts', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A temp HANDOFF_HOME; also removes the /var/lib/handoff/<hash> data dir used when running as root. */
function tempHome(): string {
  const home = mkdtempSync(path.join(os.tmpdir(), 'handoff-pg-'));
  cleanups.push(() => removeHome(home));
  return home;
}

function copyMigrations(): string {
  const dir = tempDir('handoff-mig-');
  cpSync(MIGRATIONS, dir, { recursive: true });
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Alive and not a zombie: an orphaned postmaster that exited may wait a while for init to reap it. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return !existsSync('/proc/self'); // macOS has no /proc: kill(0) is all we have
  }
}

async function waitFor(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Spawns test/support/dbChild.ts and resolves with its first stdout line, parsed. */
function spawnChild(args: string[]): { child: ReturnType<typeof spawn>; line: Promise<Record<string, unknown>>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    });
    void exit.then((code) => reject(new Error(`child exited (${code}) before printing: ${err}`)));
  });
  return { child, line, exit };
}

describe('migrations', () => {
  test('migrations apply once and are recorded', async () => {
    const tdb = await createTestDatabase();
    cleanups.push(tdb.drop);
    const files = readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql')).sort();
    const rows = await query<{ name: string; checksum: string; applied_at: Date }>(
      tdb.url,
      'SELECT name, checksum, applied_at FROM handoff_migrations ORDER BY name',
    );
    assert.deepEqual(rows.map((r) => r.name), files);
    for (const r of rows) {
      const sum = createHash('sha256').update(readFileSync(path.join(MIGRATIONS, r.name))).digest('hex');
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
    const proc = spawnChild(['migrate', tdb.url, dir]);
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
    assert.deepEqual(rows.map((r) => r.name), files);
  });

  test('a changed migration file is refused', async () => {
    const tdb = await createTestDatabase({ migrate: false });
    cleanups.push(tdb.drop);
    const dir = copyMigrations();
    const [first] = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
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

describe('pool', () => {
  test('an idle connection killed by the server is logged, not fatal', async () => {
    const tdb = await createTestDatabase({ migrate: false });
    cleanups.push(tdb.drop);
    const errors: Error[] = [];
    const pool = createPool(tdb.url, { max: 2, onError: (e) => errors.push(e) });
    const client = await pool.connect();
    const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    client.release();
    await tdb.pool.query('SELECT pg_terminate_backend($1)', [row?.pid]);
    await waitFor('the pool to report the dead idle client', () => errors.length > 0);
    assert.deepEqual((await pool.query<{ one: number }>('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await pool.end();
  });
});

describe('resolveDatabase', () => {
  test('DATABASE_URL, when set, is used as is and nothing is started', async () => {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'postgres://u@127.0.0.1:1/x';
    try {
      const db = await resolveDatabase({ home: '/nonexistent/should-not-be-created' });
      assert.deepEqual({ url: db.url, embedded: db.embedded }, { url: 'postgres://u@127.0.0.1:1/x', embedded: false });
      await db.stop();
      assert.equal(existsSync('/nonexistent/should-not-be-created'), false);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });
});

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

  test('a home deleted and made again at the same path starts afresh, its old cluster kept aside', { skip: process.getuid?.() === 0 ? false : 'only root keeps data outside the home' }, async () => {
    const home = tempHome();
    const first = await start(home);
    await first.stop();
    // the home goes (with pg.json and the pg symlink), the data under /var/lib/handoff stays
    rmSync(home, { recursive: true, force: true });
    const again = await start(home);
    assert.equal(again.fresh, true, "a new cluster, since nobody holds the old one's password");
    assert.ok(existsSync(path.join(path.dirname(again.dataDir), 'pg.orphaned', 'PG_VERSION')), 'the old cluster is kept aside');
    await again.stop();
  });

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
    assert.equal(existsSync(path.join(info.dataDir, 'postmaster.pid')), false, 'a clean shutdown removes postmaster.pid');
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
    const [{ pid: backend } = { pid: 0 }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    // a stopped backend cannot notice its postmaster's death: it stays attached to the old shared memory
    process.kill(backend, 'SIGSTOP');
    cleanups.push(() => {
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

  test('a supervised server killed with SIGKILL comes back on its URL; one that cannot come back is reported lost', async () => {
    const home = tempHome();
    // Not the default port: another test's server may take that one while this one is down.
    const first = await startEmbeddedPostgres({ home, port: await freePort() });
    const lines: string[] = [];
    const log = { debug: () => {}, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    let lost: (err: Error) => void = () => {};
    const lostErr = new Promise<Error>((resolve) => (lost = resolve));
    const supervised = superviseEmbeddedPostgres(first, { home, log, onLost: (err) => lost(err), attempts: 2, firstDelayMs: 50 });
    try {
      process.kill(first.pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      for (;;) {
        // Postgres may accept connections a moment before the supervisor's start() resolves and it says so
        const back = lines.some((l) => l.includes('embedded Postgres is back'));
        const ok = back && (await query(supervised.url, 'SELECT 1 AS one').then(() => true, () => false));
        if (ok) break;
        if (Date.now() > deadline) assert.fail(`not back within 30 s:\n${lines.join('\n')}`);
        await sleep(50);
      }

      // Postgres refuses a data directory that others may write to: every attempt fails
      const pid = Number.parseInt(readFileSync(path.join(first.dataDir, 'postmaster.pid'), 'utf8'), 10);
      chmodSync(first.dataDir, 0o777);
      process.kill(pid, 'SIGKILL');
      const err = await lostErr;
      assert.match(err.message, /could not be restarted \(2 restart attempts failed, the last: .*permissions/);
    } finally {
      chmodSync(first.dataDir, 0o700);
      await supervised.stop();
    }
  });

  test('a supervised server that keeps dying is reported lost, not restarted for ever', async () => {
    const home = tempHome();
    const first = await startEmbeddedPostgres({ home, port: await freePort() });
    const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
    let lost: (err: Error) => void = () => {};
    const lostErr = new Promise<Error>((resolve) => (lost = resolve));
    const supervised = superviseEmbeddedPostgres(first, { home, log, onLost: (err) => lost(err), firstDelayMs: 20, maxDeathsInWindow: 2 });
    const pidFile = path.join(first.dataDir, 'postmaster.pid');
    try {
      let victim = first.pid;
      for (let death = 1; death <= 2; death++) {
        process.kill(victim, 'SIGKILL');
        const deadline = Date.now() + 30_000;
        for (;;) {
          const pid = existsSync(pidFile) ? Number.parseInt(readFileSync(pidFile, 'utf8'), 10) : 0;
          if (pid !== victim && pid > 0 && (await query(supervised.url, 'SELECT 1').then(() => true, () => false))) {
            victim = pid;
            break;
          }
          if (Date.now() > deadline) assert.fail(`not back after death ${death}`);
          await sleep(50);
        }
      }
      process.kill(victim, 'SIGKILL');
      assert.match((await lostErr).message, /could not be restarted \(it died 3 times in 10 minutes\)/);
    } finally {
      await supervised.stop();
    }
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
