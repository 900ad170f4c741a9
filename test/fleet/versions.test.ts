import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LiveReport } from '@handoff/contracts';
import { expectedSchemaVersion, HANDOFF_VERSION } from '@handoff/executor';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * Each executor says what it is (decision 90): handoff's version, the schema version its code
 * expects, the policy version it applies and its clock; one too old for the database does not start.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
const EXECUTOR = join(repo, 'apps/executor/main.ts');

describe('an executor too old for the database', () => {
  let tdb: TestDatabase;
  let home: string;
  before(async () => {
    tdb = await createTestDatabase();
    home = mkdtempSync(join(tmpdir(), 'handoff-versions-'));
  });
  after(async () => {
    await tdb?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('refuses to start, in one sentence naming both schema versions and what to upgrade', async () => {
    const ahead = expectedSchemaVersion() + 1;
    // a newer handoff migrated this database further than this executor knows
    await tdb.pool.query('INSERT INTO handoff_migrations (name, checksum) VALUES ($1, $2)', [
      `${String(ahead).padStart(3, '0')}_from_a_newer_handoff.sql`,
      'not-a-real-checksum',
    ]);
    const child = spawnSync(process.execPath, [EXECUTOR], {
      env: {
        ...process.env,
        HANDOFF_HOME: home,
        DATABASE_URL: tdb.url,
        HANDOFF_EXECUTOR_ID: 'too-old',
        HANDOFF_LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 1, child.stdout + child.stderr);
    const lines = child.stderr.split('\n').filter(Boolean);
    assert.deepEqual(lines, [
      `handoff executor: this executor (handoff ${HANDOFF_VERSION}) is too old for the database: it expects ` +
        `schema version ${ahead - 1} but the database is at ${ahead}; upgrade handoff on this node, then start it again`,
    ]);
    const rows = await tdb.db.selectFrom('executors').select('id').execute();
    assert.deepEqual(rows, [], 'it never announced itself');
  });
});

describe('the heartbeat says what each executor runs', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  test("handoff's version, the schema version, the policy version and a clock in step show in /v1/live", async () => {
    await stack.spawnExecutor('versions-1');
    const root = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    const shown = await waitFor('the executor in /v1/live', async () => {
      const live = (await stack.api<LiveReport>('GET', '/v1/live')).body;
      const e = live.executors.find((x) => x.id === 'versions-1');
      return e && live.policy ? { e, policy: live.policy } : null;
    });
    assert.equal(shown.e.version, root.version);
    assert.equal(shown.e.schemaVersion, expectedSchemaVersion());
    assert.equal(shown.e.policyVersion, shown.policy.version);
    assert.ok(shown.e.clockSkewMs !== null && Math.abs(shown.e.clockSkewMs) < 2000, `skew ${shown.e.clockSkewMs} ms`);
  });
});
