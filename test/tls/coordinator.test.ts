/**
 * A coordinator started with a certificate (`--listen`) speaks HTTPS only; clients trust it through
 * its CA (HANDOFF_CA, or the one `handoff login` pinned by fingerprint) and nothing else.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { RunningCoordinator } from '@handoff/coordinator';
import { certificateHosts, createAuthority, ensureServerTls } from '@handoff/tls';
import type { ServerTls } from '@handoff/tls';
import type { TestDatabase } from '../support/database.ts';
import { assertNoStack, closedPort, handoff } from '../cli/run.ts';

const databaseUrl = process.env.DATABASE_URL;

/** One GET; resolves with the status, rejects with the transport error (its code). */
function get(url: string, options: { ca?: string } = {}): Promise<number> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...options, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

describe(
  'a --listen coordinator over HTTPS',
  { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' },
  () => {
    let database: TestDatabase;
    let coordinator: RunningCoordinator;
    let home: string;
    let cliHome: string;
    let tls: ServerTls;
    let token: string;

    before(async () => {
      const { createTestDatabase } = await import('../support/database.ts');
      const { startCoordinator } = await import('@handoff/coordinator');
      database = await createTestDatabase();
      home = await mkdtemp(path.join(tmpdir(), 'handoff-tls-coord-'));
      cliHome = await mkdtemp(path.join(tmpdir(), 'handoff-tls-cli-'));
      tls = await ensureServerTls({ home, hosts: certificateHosts('127.0.0.1') });
      coordinator = await startCoordinator({
        home,
        databaseUrl: database.url,
        host: '127.0.0.1',
        port: 0,
        tls,
        log: pino({ level: 'silent' }),
      });
      token = (await readFile(path.join(home, 'operator.token'), 'utf8')).trim();
    });

    after(async () => {
      await coordinator?.close();
      await database?.drop();
      for (const dir of [home, cliHome]) if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('it answers HTTPS to a client that trusts its CA', async () => {
      assert.match(coordinator.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(await get(`${coordinator.url}/healthz`, { ca: tls.ca }), 200);
    });

    test('a plain HTTP request gets no answer', async () => {
      const plain = coordinator.url.replace(/^https:/, 'http:');
      await assert.rejects(get(`${plain}/healthz`), (err: NodeJS.ErrnoException) => {
        assert.ok(['ECONNRESET', 'HPE_INVALID_CONSTANT', 'ETIMEDOUT'].includes(err.code ?? ''), String(err.code));
        return true;
      });
    });

    test('a client that trusts another CA (or only the system ones) is refused', async () => {
      const other = await createAuthority({ name: 'someone else', now: new Date(), days: 10 });
      await assert.rejects(get(`${coordinator.url}/healthz`, { ca: other.cert }), /certificate/i);
      await assert.rejects(get(`${coordinator.url}/healthz`), /certificate/i);
    });

    test('the CLI works with HANDOFF_URL and HANDOFF_CA, and says why without the CA', async () => {
      const env = { HANDOFF_URL: coordinator.url, HANDOFF_HOME: cliHome, HANDOFF_TOKEN: token };
      const ok = await handoff(['gate'], { ...env, HANDOFF_CA: tls.caFile });
      assert.equal(ok.code, 0, ok.stderr);
      const refused = await handoff(['gate'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /not trusted/);
      assertNoStack(refused.stderr);
    });

    test('handoff login pins the CA by fingerprint and later commands use it; it never trusts silently', async () => {
      const env = { HANDOFF_HOME: cliHome, HANDOFF_URL: undefined, HANDOFF_CA: undefined };
      const cliJson = path.join(cliHome, 'cli.json');

      const unpinned = await handoff(['login', coordinator.url, '--token', token], env);
      assert.equal(unpinned.code, 2, unpinned.stderr);
      assert.ok(unpinned.stderr.includes(tls.caFingerprint), 'it shows the fingerprint it saw');
      await assert.rejects(stat(cliJson), { code: 'ENOENT' });

      const wrong = await handoff(['login', coordinator.url, '--token', token, '--fingerprint', 'ab'.repeat(32)], env);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /not AB:AB/);
      await assert.rejects(stat(cliJson), { code: 'ENOENT' });

      const badToken = await handoff(
        ['login', coordinator.url, '--token', 'hnd_not_a_token', '--fingerprint', tls.caFingerprint],
        env,
      );
      assert.equal(badToken.code, 1, badToken.stderr);
      await assert.rejects(stat(cliJson), { code: 'ENOENT' });

      const pinned = await handoff(
        ['login', coordinator.url, '--token', token, '--fingerprint', tls.caFingerprint],
        env,
      );
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.equal((await stat(cliJson)).mode & 0o777, 0o600);
      const stored = JSON.parse(await readFile(cliJson, 'utf8')) as Record<string, string>;
      assert.equal(stored.url, coordinator.url);
      assert.equal(stored.token, token);
      assert.equal(stored.caFingerprint, tls.caFingerprint);

      const later = await handoff(['gate'], env);
      assert.equal(later.code, 0, later.stderr);

      const byFile = await handoff(['login', coordinator.url, '--token', token, '--ca', tls.caFile], env);
      assert.equal(byFile.code, 0, byFile.stderr);

      // another HANDOFF_URL: the stored login (its token, its CA) is not sent there
      const elsewhere = await handoff(['gate'], { ...env, HANDOFF_URL: `http://127.0.0.1:${await closedPort()}` });
      assert.equal(elsewhere.code, 1);
      assert.match(elsewhere.stderr, /connection refused/);

      // a pinned CA file swapped behind the CLI's back is refused, not trusted
      const other = await createAuthority({ name: 'swapped', now: new Date(), days: 10 });
      await writeFile(path.join(cliHome, 'cli-ca.pem'), other.cert);
      const swapped = await handoff(['gate'], env);
      assert.equal(swapped.code, 1);
      assert.match(swapped.stderr, /not the one handoff login pinned/);
      assertNoStack(swapped.stderr);
    });

    test('--listen takes an address, not an address with a port', async () => {
      const bad = await handoff(['coordinator', '--listen', '127.0.0.1:9000'], { HANDOFF_HOME: cliHome });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /--listen: must be an IP address or a host name/);
    });
  },
);
