import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { certificateHosts, ensureServerTls } from '@handoff/tls';
import type { ServerTls } from '@handoff/tls';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Under HTTPS (`--listen`) the console's cookie is `__Host-` prefixed and Secure, and the Origin a
 * state-changing request must carry is the https one.
 */
describe('the console over HTTPS', () => {
  let database: TestDatabase;
  let coordinator: RunningCoordinator;
  let home: string;
  let tls: ServerTls;
  let token: string;

  function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${coordinator.url}${path}`,
        {
          method,
          ca: tls.ca,
          agent: false,
          headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-console-tls-'));
    tls = await ensureServerTls({ home, hosts: certificateHosts('127.0.0.1') });
    coordinator = await startCoordinator({
      home,
      databaseUrl: database.url,
      host: '127.0.0.1',
      port: 0,
      tls,
      log: pino({ level: 'silent' }),
    });
    token = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('the session cookie is __Host- prefixed, Secure, HttpOnly and SameSite=Strict', async () => {
    const origin = coordinator.url;
    const signIn = await call('POST', '/console/api/session', { origin }, { token });
    assert.equal(signIn.status, 200, signIn.body);
    const setCookie = String(signIn.headers['set-cookie']);
    assert.match(setCookie, /^__Host-handoff_session=/);
    for (const attribute of [/; Secure/, /; HttpOnly/, /; SameSite=Strict/, /; Path=\//])
      assert.match(setCookie, attribute);
    const cookie = setCookie.split(';')[0]!;
    const csrf = (JSON.parse(signIn.body) as { csrfToken: string }).csrfToken;
    assert.equal((await call('GET', '/v1/live', { cookie })).status, 200);

    // the plain-http origin of the same host is another origin
    const plainOrigin = origin.replace(/^https:/, 'http:');
    const refused = await call(
      'PUT',
      '/v1/gates/global',
      { cookie, origin: plainOrigin, 'x-csrf-token': csrf },
      {
        enabled: true,
        reason: 'from http',
      },
    );
    assert.equal(refused.status, 403, refused.body);
    const allowed = await call(
      'PUT',
      '/v1/gates/global',
      { cookie, origin, 'x-csrf-token': csrf },
      {
        enabled: true,
        reason: 'from the console',
      },
    );
    assert.equal(allowed.status, 200, allowed.body);
  });
});
