/**
 * Issue 12 from the command line, as a new user meets it (a real child process against a real
 * coordinator): tokens that expire and are revoked, `handoff audit`, gates in open/closed words,
 * `show --key`, approve/show saying what holds an intent, `reject` of several ids, errors without
 * raw codes (and JSON under --json), `live --watch`, and `guard check`'s exit codes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { AuditList, CreatedToken, Gate, Intent } from '@handoff/contracts';
import type { RunningCoordinator } from '@handoff/coordinator';
import type { TestDatabase } from '../support/database.ts';
import { handoff, lines, main, repo } from './run.ts';

const databaseUrl = process.env.DATABASE_URL;

describe(
  'handoff CLI: tokens, audit, gates and the sharp edges',
  { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' },
  () => {
    let database: TestDatabase;
    let coordinator: RunningCoordinator;
    let home: string;
    let operatorToken: string;
    let env: Record<string, string>;
    let seq = 0;
    const key = (label: string): string => `${label}-${process.pid}-${++seq}`;

    const createIntent = async (channel = 'noop', account = 'default'): Promise<Intent> => {
      const response = await fetch(`${coordinator.url}/v1/intents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          channel,
          account,
          idempotencyKey: key('edge'),
          payload: { n: 1 },
          requiresApproval: true,
        }),
      });
      assert.equal(response.status, 201, await response.clone().text());
      return (await response.json()) as Intent;
    };

    before(async () => {
      const { createTestDatabase } = await import('../support/database.ts');
      const { startCoordinator } = await import('@handoff/coordinator');
      database = await createTestDatabase();
      home = await mkdtemp(path.join(tmpdir(), 'handoff-cli-edges-'));
      coordinator = await startCoordinator({
        home,
        databaseUrl: database.url,
        port: 0,
        log: pino({ level: 'silent' }),
      });
      operatorToken = (await readFile(path.join(home, 'operator.token'), 'utf8')).trim();
      env = { HANDOFF_URL: coordinator.url, HANDOFF_HOME: home };
    });

    after(async () => {
      await coordinator?.close();
      await database?.drop();
      if (home) await rm(home, { recursive: true, force: true });
    });

    test('token create --expires, token list, token revoke: the revoked token is refused at once, in words', async () => {
      const made = await handoff(['token', 'create', '--role', 'viewer', '--name', 'phone', '--expires', '30d'], env);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /^expires\s+\d{4}-\d\d-\d\d .*\(in 30d\)$/m);
      const token = /^token\s+(\S+)$/m.exec(made.stdout)?.[1];
      const id = /^id\s+(\S+)$/m.exec(made.stdout)?.[1];
      assert.ok(token && id);
      const viewerEnv = { ...env, HANDOFF_TOKEN: token };
      assert.equal((await handoff(['gate'], viewerEnv)).code, 0);

      const listed = await handoff(['token', 'list'], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^viewer:${id}\\s+phone\\s+.*live, expires in 30d$`, 'm'));

      const revoked = await handoff(['token', 'revoke', `viewer:${id}`], env);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, new RegExp(`^token ${id} \\(phone\\) is revoked`));

      const refused = await handoff(['gate'], viewerEnv);
      assert.equal(refused.code, 1);
      assert.deepEqual(lines(refused.stderr), [
        'handoff: the token was refused: it was revoked. Use another token (HANDOFF_TOKEN), or ask an operator for one (`handoff token create`).',
      ]);
      const json = await handoff(['gate', '--json'], viewerEnv);
      assert.deepEqual(JSON.parse(json.stderr), {
        error: { code: 'unauthorized', message: lines(refused.stderr)[0]!.slice('handoff: '.length) },
      });

      const badExpiry = await handoff(['token', 'create', '--role', 'viewer', '--expires', 'forever'], env);
      assert.equal(badExpiry.code, 2);
      assert.match(badExpiry.stderr, /--expires.*whole number and a unit/);
    });

    test('a viewer token cannot mint or revoke tokens from the CLI either', async () => {
      const made = await handoff(['token', 'create', '--role', 'viewer', '--json'], env);
      const viewer = JSON.parse(made.stdout) as CreatedToken;
      const viewerEnv = { ...env, HANDOFF_TOKEN: viewer.token };
      const mint = await handoff(['token', 'create', '--role', 'operator'], viewerEnv);
      assert.equal(mint.code, 1);
      assert.match(mint.stderr, /403 forbidden/);
      const revoke = await handoff(['token', 'revoke', viewer.id], viewerEnv);
      assert.equal(revoke.code, 1);
      assert.match(revoke.stderr, /403 forbidden/);
    });

    test('gate close/open/remove speak open and closed; an unknown scope is refused unless --force', async () => {
      const closed = await handoff(['gate', 'close', 'webhook', '--reason', 'incident 12'], env);
      assert.equal(closed.code, 0, closed.stderr);
      assert.match(closed.stdout, /^gate webhook is CLOSED \(incident 12\)/);
      const listed = JSON.parse((await handoff(['gate', '--json'], env)).stdout) as { gates: Gate[] };
      assert.equal(listed.gates.find((g) => g.scope === 'webhook')?.state, 'closed');
      const opened = await handoff(['gate', 'open', '--scope', 'webhook', '--json'], env);
      assert.equal((JSON.parse(opened.stdout) as Gate).state, 'open');

      const typo = await handoff(['gate', 'close', 'wehbook'], env);
      assert.equal(typo.code, 1);
      assert.deepEqual(lines(typo.stderr).length, 1);
      assert.match(typo.stderr, /^handoff: no channel "wehbook" .*add --force$/m);
      assert.doesNotMatch(typo.stderr, /unknown_scope/);
      const typoJson = await handoff(['gate', 'close', 'wehbook', '--json'], env);
      assert.equal(JSON.parse(typoJson.stderr).error.code, 'unknown_scope');
      const forced = await handoff(['gate', 'close', 'x:@someday', '--force'], env);
      assert.equal(forced.code, 0, forced.stderr);

      const removed = await handoff(['gate', 'remove', 'x:@someday'], env);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, /gate x:@someday is removed: the scope is open and no longer listed/);
      const after = await handoff(['gate'], env);
      assert.doesNotMatch(after.stdout, /x:@someday/);
    });

    test('approve says what holds the intent; show explains it; show --key finds it', async () => {
      const intent = await createIntent('noop', 'held');
      assert.equal((await handoff(['gate', 'close', 'noop', '--reason', 'maintenance'], env)).code, 0);
      try {
        const approved = await handoff(['approve', intent.id], env);
        assert.equal(approved.code, 0, approved.stderr);
        assert.match(approved.stdout, new RegExp(`^approved ${intent.id}`, 'm'));
        assert.match(
          approved.stdout,
          /^ {2}held: gate noop is closed \(maintenance\) .*; it starts once it opens \(`handoff gate open noop`\)\.$/m,
        );
        const shown = await handoff(['show', '--key', intent.idempotencyKey], env);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(`^id\\s+${intent.id}$`, 'm'));
        assert.match(shown.stdout, /^why\s+may run, but is held \(below\)$/m);
        assert.match(shown.stdout, /^held: gate noop is closed \(maintenance\)/m);
      } finally {
        await handoff(['gate', 'open', 'noop'], env);
      }
      const missing = await handoff(['show', '--key', 'no-such-key'], env);
      assert.equal(missing.code, 1);
      assert.deepEqual(lines(missing.stderr), ['handoff: no intent has the idempotency key "no-such-key"']);
      const both = await handoff(['show', intent.id, '--key', intent.idempotencyKey], env);
      assert.equal(both.code, 2);
    });

    test('reject takes several ids like approve, each reported; --json errors are JSON', async () => {
      const a = await createIntent();
      const b = await createIntent();
      const unknown = '3b241101-e2bb-4255-8caf-4136c566a962';
      const run = await handoff(['reject', a.id, b.id, unknown, '--reason', 'spam'], env);
      assert.equal(run.code, 1);
      assert.match(run.stdout, new RegExp(`^rejected ${a.id} .*-> rejected$`, 'm'));
      assert.match(run.stdout, new RegExp(`^rejected ${b.id} .*-> rejected$`, 'm'));
      assert.deepEqual(lines(run.stderr), [
        `handoff: ${unknown}: no intent with id ${unknown}`,
        'handoff: 1 of 3 could not be rejected',
      ]);

      const c = await createIntent();
      const asJson = await handoff(['reject', c.id, unknown, '--reason', 'spam', '--json'], env);
      assert.equal(asJson.code, 1);
      assert.deepEqual(
        (JSON.parse(asJson.stdout) as Intent[]).map((i) => [i.id, i.state]),
        [[c.id, 'rejected']],
      );
      const errors = lines(asJson.stderr).map((l) => JSON.parse(l));
      assert.deepEqual(errors[0], {
        error: { code: 'not_found', message: `${unknown}: no intent with id ${unknown}`, id: unknown },
      });
      assert.equal(errors[1].error.code, 'failed');

      const show = await handoff(['show', unknown, '--json'], env);
      assert.equal(show.code, 1);
      assert.equal(show.stdout, '');
      assert.equal(JSON.parse(show.stderr).error.code, 'not_found');
      const usage = await handoff(['show', 'xyz', '--json'], env);
      assert.equal(usage.code, 2);
      assert.equal(JSON.parse(usage.stderr).error.code, 'usage');
    });

    test('handoff audit lists decisions with their reasons, filtered by action, actor and age', async () => {
      const table = await handoff(['audit', '--since', '24h', '--action', 'gate'], env);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^WHEN\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$/m);
      assert.match(table.stdout, /^\S.*operator \(operator\)\s+gate\.close\s+noop\s+"maintenance"/m);
      assert.doesNotMatch(table.stdout, /intent\.approve/);
      const asJson = await handoff(['audit', '--actor', 'operator', '--json'], env);
      assert.equal(asJson.code, 0, asJson.stderr);
      const body = JSON.parse(asJson.stdout) as AuditList;
      const actions = new Set(body.entries.map((e) => e.action));
      for (const action of [
        'token.create',
        'token.revoke',
        'gate.close',
        'gate.open',
        'gate.remove',
        'intent.approve',
        'intent.reject',
      ])
        assert.ok(actions.has(action), `the audit holds ${action}`);
      const bad = await handoff(['audit', '--since', 'yesterday'], env);
      assert.equal(bad.code, 2);
    });

    test('live --watch reports again and again until stopped', async () => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete childEnv.NODE_TEST_CONTEXT;
      delete childEnv.HANDOFF_TOKEN;
      const child = spawn(process.execPath, [main, 'live', '--watch', '--interval', '0.5'], {
        cwd: repo,
        env: childEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
      const deadline = Date.now() + 20_000;
      while ((stdout.match(/^handoff live at /gm) ?? []).length < 3 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill('SIGTERM');
      await exited;
      assert.ok((stdout.match(/^handoff live at /gm) ?? []).length >= 3, stdout);
    });

    test('guard check exits 0 for allow, 3 for ask, 4 for deny', async () => {
      const cwd = await mkdtemp(path.join(tmpdir(), 'handoff-guard-exit-'));
      try {
        const allow = await handoff(['guard', 'check', '--cwd', cwd, 'ls'], env);
        assert.equal(allow.code, 0, allow.stderr);
        assert.match(allow.stdout, /^allow /);
        const ask = await handoff(['guard', 'check', '--cwd', cwd, '--no-isolation', 'npm test'], env);
        assert.equal(ask.code, 3, ask.stderr);
        assert.match(ask.stdout, /^ask /);
        const deny = await handoff(['guard', 'check', '--cwd', cwd, 'rm -rf /'], env);
        assert.equal(deny.code, 4, deny.stderr);
        assert.match(deny.stdout, /^deny /);
      } finally {
        await rm(cwd, { recursive: true, force: true });
      }
    });
  },
);
