import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { onOutputLines } from '../support/lines.ts';

/**
 * secrets.json holds the connectors' credentials: an executor refuses to start when anyone but its
 * own user may read the file, in one line that names the file and the fix, never a value.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
const EXECUTOR = join(repo, 'apps/executor/main.ts');
const CLI = join(repo, 'apps/cli/src/main.ts');
const VALUE = 'Bearer refused-secret-0123456789';

let tdb: TestDatabase;
let home: string;

before(async () => {
  tdb = await createTestDatabase();
  home = mkdtempSync(join(tmpdir(), 'handoff-secrets-mode-'));
  writeFileSync(
    join(home, 'secrets.json'),
    JSON.stringify({ webhook: { ops: { hosts: ['hooks.example.com'], headers: { authorization: VALUE } } } }),
  );
});

after(async () => {
  rmSync(home, { recursive: true, force: true });
  await tdb.drop();
});

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, args, {
    env: {
      ...process.env,
      HANDOFF_HOME: home,
      DATABASE_URL: tdb.url,
      HANDOFF_EXECUTOR_ID: 'secrets-mode',
      HANDOFF_LOG_LEVEL: 'info',
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

function assertRefused(result: { status: number | null; stdout: string; stderr: string }, mode: string): void {
  assert.equal(result.status, 1, result.stdout + result.stderr);
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
  const path = join(home, 'secrets.json');
  assert.ok(lines[0]!.includes(`${path} is readable by others (mode ${mode}); run: chmod 600 ${path}`), lines[0]);
  assert.ok(!(result.stdout + result.stderr).includes('refused-secret'), 'no credential is printed');
}

describe('secrets.json must be 0600', () => {
  test('the executor process refuses to start with a secrets.json others may read, in one line naming the file and the chmod', () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(join(home, 'secrets.json'), mode);
      assertRefused(run([EXECUTOR]), mode.toString(8));
    }
  });

  test('`handoff executor` refuses it the same way', () => {
    chmodSync(join(home, 'secrets.json'), 0o644);
    assertRefused(run([CLI, 'executor']), '644');
  });

  test('the same file at 0600 starts the executor', async () => {
    chmodSync(join(home, 'secrets.json'), 0o600);
    const child = spawn(process.execPath, [EXECUTOR], {
      env: {
        ...process.env,
        HANDOFF_HOME: home,
        DATABASE_URL: tdb.url,
        HANDOFF_EXECUTOR_ID: 'secrets-mode',
        HANDOFF_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
    );
    await new Promise<void>((resolve, reject) => {
      onOutputLines([child.stdout, child.stderr], (line) => {
        output.push(line);
        if (line.includes('"executor started"')) resolve();
      });
      void exited.then((code) => reject(new Error(`exited (${code}) before it started:\n${output.join('\n')}`)));
    });
    assert.ok(
      output.some((l) => l.includes('webhook:*')),
      'it holds its channels',
    );
    child.kill('SIGKILL');
    await exited;
    assert.ok(!output.join('\n').includes('refused-secret'));
  });
});
