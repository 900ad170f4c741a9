/**
 * `npm test` / `npm run test:chaos`. Picks the Postgres the suite uses (DATABASE_URL, or an
 * embedded one under .handoff/test-home), then runs Node's test runner on the test files.
 *
 *   npm test                          every test/**, libs/**, apps/** *.test.ts except test/chaos
 *   npm test -- test/db.test.ts       only the named files (globs work too)
 *   npm test -- --test-name-pattern=x runner flags pass through; give them in --flag=value form
 *   npm run test:chaos                only test/chaos/**
 */
import { spawn } from 'node:child_process';
import { globSync, mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import type { EmbeddedPostgresServer } from '@handoff/embedded-postgres';
import { databaseUrlFor } from './support/database.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const chaos = args.includes('--chaos');
const rest = args.filter((a) => a !== '--chaos');
const runnerFlags = rest.filter((a) => a.startsWith('-'));
const fileArgs = rest.filter((a) => !a.startsWith('-'));

function testFiles(): string[] {
  if (fileArgs.length > 0) return fileArgs;
  const patterns = chaos
    ? ['test/chaos/**/*.test.ts']
    : ['test/**/*.test.ts', 'libs/**/*.test.ts', 'apps/**/*.test.ts'];
  return globSync(patterns, { cwd: repo, exclude: (p) => path.basename(String(p)) === 'node_modules' })
    .filter((f) => chaos || !f.startsWith(`test${path.sep}chaos${path.sep}`))
    .sort();
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

async function serverVersion(url: string): Promise<string> {
  // The URL's own database may not exist (tests only need the server): fall back to `postgres`.
  for (const candidate of [url, databaseUrlFor(url, 'postgres')]) {
    const client = new pg.Client({ connectionString: candidate, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      return rows[0]?.v ?? '?';
    } catch (err) {
      if ((err as { code?: string }).code !== '3D000' || candidate !== url) throw err;
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new Error('unreachable');
}

/**
 * Several test runs (two terminals, two engineers) share the embedded server of test-home: the
 * first starts it, later ones reuse it. Each run registers itself here, and the owner waits
 * for the others to finish before stopping the server under them.
 */
function registerRun(home: string): { others(): number[]; done(): void } {
  const dir = path.join(home, 'runs');
  mkdirSync(dir, { recursive: true });
  const mine = path.join(dir, String(process.pid));
  writeFileSync(mine, '');
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    others: () =>
      readdirSync(dir)
        .map(Number)
        .filter((pid) => pid !== process.pid && Number.isInteger(pid))
        .filter((pid) => {
          if (alive(pid)) return true;
          try {
            unlinkSync(path.join(dir, String(pid)));
          } catch {
            // someone else cleaned it
          }
          return false;
        }),
    done: () => {
      try {
        unlinkSync(mine);
      } catch {
        // already gone
      }
    },
  };
}

async function main(): Promise<number> {
  const files = testFiles();
  if (files.length === 0) {
    console.log(`no test files found${chaos ? ' under test/chaos' : ''}`);
    return 0;
  }

  const env = { ...process.env };
  let server: EmbeddedPostgresServer | undefined;
  let run: ReturnType<typeof registerRun> | undefined;
  if (env.DATABASE_URL === undefined || env.DATABASE_URL === '') {
    const home = path.join(repo, '.handoff', 'test-home');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    run = registerRun(home);
    const t0 = performance.now();
    server = await startEmbeddedPostgres({
      home,
      // a fixture, not an installation: archiving every test's WAL costs CPU the chaos suite's 2 s leases need
      walArchive: false,
      log: (msg, level) => {
        if (level === 'warn' || level === 'error') console.error(msg);
      },
    });
    env.DATABASE_URL = server.url;
    const how = server.reused ? 'reused a running server' : server.fresh ? 'initialised' : 'started';
    console.log(
      `test database: embedded Postgres ${await serverVersion(server.url)} on 127.0.0.1:${server.port} ` +
        `(${how} in ${Math.round(performance.now() - t0)} ms, data ${path.relative(repo, home)}/pg)`,
    );
  } else {
    console.log(
      `test database: DATABASE_URL ${redact(env.DATABASE_URL)}, Postgres ${await serverVersion(env.DATABASE_URL)}`,
    );
  }

  const child = spawn(
    process.execPath,
    // chaos scenarios run one at a time: each measures rates and timings of its own processes
    [
      '--test',
      chaos ? '--test-concurrency=1' : '--test-concurrency=2',
      chaos ? '--test-timeout=600000' : '--test-timeout=120000',
      ...runnerFlags,
      ...files,
    ],
    { cwd: repo, env, stdio: 'inherit' },
  );
  let exited = false;
  let interruptedAfterExit = false;
  const forward = (signal: NodeJS.Signals): void => {
    if (exited) interruptedAfterExit = true;
    else child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (c, signal) => {
      exited = true;
      resolve(c ?? (signal ? 128 + 15 : 1));
    });
  });

  if (server && run) {
    // the process that stops the server waits for the runs that share it
    if (!server.reused || server.adopted) {
      for (let others = run.others(), said = false; others.length > 0 && !interruptedAfterExit; others = run.others()) {
        if (!said) console.log(`waiting for test run(s) ${others.join(', ')} that share the embedded Postgres`);
        said = true;
        await sleep(1_000);
      }
    }
    run.done();
    await server.stop();
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('test/run.ts:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
