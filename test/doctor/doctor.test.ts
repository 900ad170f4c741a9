/**
 * `handoff doctor` as an operator runs it (a real CLI process) against a real coordinator and a real
 * executor process: a healthy installation exits 0, and each thing broken on purpose is one line
 * that names it and says what to do, with the exit code of the worst line.
 */
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DoctorReport } from '@handoff/contracts';
import type { DoctorCheck } from '@handoff/contracts';
import { handoff, closedPort, assertNoStack } from '../cli/run.ts';
import { queryRows } from '../support/database.ts';
import { startStack, type Stack } from '../support/stack.ts';

const databaseUrl = process.env.DATABASE_URL;

function parse(stdout: string): DoctorReport {
  return DoctorReport.parse(JSON.parse(stdout));
}

function find(report: DoctorReport, check: string): DoctorCheck {
  const found = report.checks.find((c) => c.check === check);
  assert.ok(found, `no ${check} line in ${JSON.stringify(report.checks, null, 1)}`);
  return found;
}

describe('handoff doctor', { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' }, () => {
  let stack: Stack;
  let env: Record<string, string>;

  before(async () => {
    stack = await startStack();
    await stack.spawnExecutor('doctor-exec');
    await queryRows(
      stack.tdb.url,
      `INSERT INTO backup_runs (status, kind, finished_at, dir) VALUES ('ok', 'manual', clock_timestamp(), '/tmp/b')`,
    );
    await writeFile(path.join(stack.home, 'secrets.json'), '{}', { mode: 0o600 });
    env = { HANDOFF_URL: stack.coordinator.url, HANDOFF_HOME: stack.home };
  });

  after(async () => {
    await stack?.close();
  });

  test('a healthy installation: every line ok, exit 0', async () => {
    const run = await handoff(['doctor'], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^ok +database +Postgres/m);
    assert.match(run.stdout, /^ok +executor:doctor-exec +heartbeat/m);
    assert.match(run.stdout, /^ok +backup +the last good backup finished/m);
    assert.match(run.stdout, /^ok +file:secrets\.json/m);
    assert.match(run.stdout, /all \d+ checks ok/);
    const json = await handoff(['doctor', '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const report = parse(json.stdout);
    assert.equal(report.status, 'ok');
    assert.ok(report.checks.every((c) => c.status === 'ok' && c.todo === ''));
    // the same home seen by the coordinator and by the CLI is reported once
    assert.equal(report.checks.filter((c) => c.check === 'file:secrets.json').length, 1);
  });

  test('a node that stopped beating is a warn line naming it and node remove, exit 3; once removed it is gone', async () => {
    const node = `t${randomBytes(5).toString('hex')}`;
    const added = await stack.api('POST', '/v1/nodes', { id: node, accounts: ['webhook:default'] });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    await queryRows(
      stack.tdb.url,
      `INSERT INTO executors (id, host, pid, started_at, heartbeat_at, status, channels, breakers, local_gate_enabled, in_flight)
       VALUES ($1, 'old-host', 42, now() - interval '1 hour', now() - interval '10 minutes', 'running', '[]', '[]', true, 0),
        ('quiet-box', 'quiet-host', 43, now() - interval '1 hour', now() - interval '5 minutes', 'stopped', '[]', '[]', true, 0)`,
      [node],
    );
    try {
      const run = await handoff(['doctor'], env);
      assert.equal(run.code, 3, run.stdout + run.stderr);
      const stale = new RegExp(`^warn +executor:${node} +no heartbeat for 10 min .*handoff node remove ${node}`, 'm');
      assert.match(run.stdout, stale);
      // an executor on the owner's connection is no node: it leaves the report after a week
      assert.match(
        run.stdout,
        /^warn +executor:quiet-box +stopped cleanly 5 min ago .*7 days after its last heartbeat/m,
      );
      assert.match(run.stdout, /^ok +executor:doctor-exec/m);

      assert.equal((await stack.api('DELETE', `/v1/nodes/${node}`)).status, 200);
      const after = await handoff(['doctor', '--json'], env);
      assert.ok(!parse(after.stdout).checks.some((c) => c.check === `executor:${node}`), after.stdout);
    } finally {
      await stack.api('DELETE', `/v1/nodes/${node}`).catch(() => undefined);
      await stack.tdb.pool.query(`DROP ROLE IF EXISTS "handoff_node_${node}"`).catch(() => undefined);
      await queryRows(stack.tdb.url, `DELETE FROM executors WHERE id IN ($1, 'quiet-box')`, [node]);
    }
  });

  test('secrets.json readable by others is a fail line naming the file and chmod 600, exit 4', async () => {
    const file = path.join(stack.home, 'secrets.json');
    await chmod(file, 0o644);
    try {
      const run = await handoff(['doctor'], env);
      assert.equal(run.code, 4, run.stdout + run.stderr);
      const fail = run.stdout.split('\n').find((l) => l.startsWith('fail'));
      assert.ok(fail, run.stdout);
      assert.match(fail, /file:secrets\.json/);
      assert.ok(fail.includes(`${file} is mode 0644`), fail);
      assert.ok(fail.includes(`chmod 600 ${file}`), fail);
    } finally {
      await chmod(file, 0o600);
    }
  });

  test('no finished backup is a warn line, exit 3', async () => {
    const saved = await queryRows(stack.tdb.url, `DELETE FROM backup_runs RETURNING id`);
    assert.equal(saved.length, 1);
    try {
      const run = await handoff(['doctor', '--json'], env);
      assert.equal(run.code, 3, run.stdout + run.stderr);
      const backup = find(parse(run.stdout), 'backup');
      assert.equal(backup.status, 'warn');
      assert.match(backup.found, /no backup has finished yet/);
      assert.match(backup.todo, /handoff backup/);
    } finally {
      await queryRows(
        stack.tdb.url,
        `INSERT INTO backup_runs (status, kind, finished_at) VALUES ('ok', 'manual', clock_timestamp())`,
      );
    }
  });

  test('an agent token may not read the doctor report (403); a viewer token may', async () => {
    const agent = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'agent', name: 'doc-agent' });
    const viewer = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', name: 'doc-viewer' });
    const ask = (token: string) =>
      fetch(`${stack.coordinator.url}/v1/doctor`, { headers: { authorization: `Bearer ${token}` } });
    const refused = await ask(agent.body.token);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(await refused.text(), /secrets\.json|executor:/);
    const allowed = await ask(viewer.body.token);
    assert.equal(allowed.status, 200);
    DoctorReport.parse(await allowed.json());
    assert.equal((await fetch(`${stack.coordinator.url}/v1/doctor`)).status, 401);
  });

  test('a coordinator out of reach is a fail line, and the local checks still run (exit 4)', async () => {
    const port = await closedPort();
    const run = await handoff(['doctor'], { ...env, HANDOFF_URL: `http://127.0.0.1:${port}` });
    assert.equal(run.code, 4, run.stdout + run.stderr);
    assert.match(run.stdout, /^fail +coordinator +cannot reach the coordinator/m);
    assert.match(run.stdout, /^ok +file:secrets\.json/m);
    assertNoStack(run.stdout + run.stderr);
  });

  test('a source table that is missing is a warn line saying so, not a crash', async () => {
    await queryRows(stack.tdb.url, `ALTER TABLE backup_runs RENAME TO backup_runs_away`);
    try {
      const run = await handoff(['doctor', '--json'], env);
      assert.equal(run.code, 3, run.stdout + run.stderr);
      const backup = find(parse(run.stdout), 'backup');
      assert.equal(backup.status, 'warn');
      assert.match(backup.found, /the table backup_runs does not exist/);
    } finally {
      await queryRows(stack.tdb.url, `ALTER TABLE backup_runs_away RENAME TO backup_runs`);
    }
  });
});
