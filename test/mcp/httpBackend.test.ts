import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createHttpBackend } from '@handoff/mcp';

/**
 * `handoff mcp` reaches an https coordinator whose certificate a private CA signed when HANDOFF_CA
 * names that CA, and refuses it otherwise. The "coordinator" here is a TLS server answering one
 * JSON body; the certificates come from the openssl CLI.
 */

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the stdio backend over https', { skip: haveOpenssl() ? false : 'no openssl CLI to make a CA with' }, () => {
  let dir: string;
  let server: Server;
  let url: string;
  const seen: { authorization?: string | undefined }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-mcp-ca-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=handoff test CA',
    );
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    );
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    );
    server = createServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
      (req, res) => {
        seen.push({ authorization: req.headers.authorization });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ channels: [] }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('with HANDOFF_CA the call goes through, carrying the bearer token', async () => {
    const backend = createHttpBackend({ baseUrl: url, token: 'hnd_test', caFile: join(dir, 'ca.pem') });
    const answer = await backend.call('GET', '/v1/channels');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { channels: [] });
    assert.equal(seen.at(-1)?.authorization, 'Bearer hnd_test');
  });

  test('without it the certificate is not trusted: coordinator_unreachable, naming why', async () => {
    const backend = createHttpBackend({ baseUrl: url, token: 'hnd_test' });
    await assert.rejects(backend.call('GET', '/v1/channels'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'coordinator_unreachable');
      assert.match(err.message, /cannot reach the coordinator at https:\/\/127\.0\.0\.1:\d+ \(.+\)/);
      return true;
    });
  });
});
