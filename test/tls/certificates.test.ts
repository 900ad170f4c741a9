/**
 * The certificates a `--listen` coordinator serves: made once in $HANDOFF_HOME/tls with its keys
 * readable by the owner only, kept across restarts, made again before they expire or when the
 * address changes; the operator's own files are used as they are.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  certificateHosts,
  createAuthority,
  createServerCertificate,
  ensureServerTls,
  fingerprint,
  normaliseFingerprint,
} from '@handoff/tls';

const DAY_MS = 24 * 60 * 60 * 1000;
const homes: string[] = [];
after(async () => {
  for (const home of homes) await rm(home, { recursive: true, force: true });
});

async function tempHome(): Promise<string> {
  const home = await mkdtemp(path.join(tmpdir(), 'handoff-tls-'));
  homes.push(home);
  return home;
}

async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

function leaf(chain: string): X509Certificate {
  return new X509Certificate(chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 25));
}

describe('TLS certificates of a --listen coordinator', () => {
  test('the first start makes a CA and a server certificate for the address and the host name, keys 0600', async () => {
    const home = await tempHome();
    const tls = await ensureServerTls({ home, hosts: certificateHosts('127.0.0.2') });
    assert.equal(tls.action, 'created');
    const dir = path.join(home, 'tls');
    assert.equal(tls.caFile, path.join(dir, 'ca.pem'));
    assert.equal(await mode(path.join(dir, 'ca.pem')), 0o644);
    assert.equal(await mode(path.join(dir, 'ca.key')), 0o600);
    assert.equal(await mode(path.join(dir, 'server.key')), 0o600);
    assert.equal(await mode(dir), 0o700);

    const server = leaf(tls.cert);
    const ca = new X509Certificate(tls.ca);
    assert.ok(ca.ca, 'ca.pem is a CA');
    assert.ok(!server.ca, 'the server certificate cannot sign others');
    assert.ok(server.verify(ca.publicKey), 'the CA signed the server certificate');
    assert.ok(server.checkIP('127.0.0.2'), 'it names the listen address');
    assert.ok(server.checkHost(hostname()), 'it names the host name');
    assert.ok(server.checkIP('127.0.0.1'), 'and loopback, for a CLI on the same machine');
    assert.equal(tls.caFingerprint, fingerprint(tls.ca));
    // the server sends its CA along, so that `handoff login` can read (and pin) it
    assert.ok(tls.cert.includes(tls.ca.trim()));
  });

  test('a restart keeps the certificate; one that expires within 30 days is made again under the same CA', async () => {
    const home = await tempHome();
    const hosts = certificateHosts('127.0.0.2');
    const first = await ensureServerTls({ home, hosts });
    const again = await ensureServerTls({ home, hosts });
    assert.equal(again.action, 'reused');
    assert.equal(again.cert, first.cert);
    assert.equal(again.key, first.key);

    const nearExpiry = new Date(first.notAfter.getTime() - 10 * DAY_MS);
    const renewed = await ensureServerTls({ home, hosts, now: nearExpiry });
    assert.equal(renewed.action, 'renewed');
    assert.notEqual(renewed.cert, first.cert);
    assert.notEqual(renewed.key, first.key, 'a new key too');
    assert.equal(renewed.caFingerprint, first.caFingerprint, 'clients that pinned the CA keep trusting it');
    assert.ok(renewed.notAfter.getTime() > first.notAfter.getTime());
    assert.equal(await mode(path.join(home, 'tls', 'server.key')), 0o600);
  });

  test('a CA near its end is made again, and the server certificate with it', async () => {
    const home = await tempHome();
    const hosts = certificateHosts('127.0.0.2');
    const first = await ensureServerTls({ home, hosts, caDays: 40 });
    const later = new Date(Date.now() + 15 * DAY_MS);
    const next = await ensureServerTls({ home, hosts, now: later });
    assert.equal(next.action, 'renewed');
    assert.notEqual(next.caFingerprint, first.caFingerprint);
    assert.ok(leaf(next.cert).verify(new X509Certificate(next.ca).publicKey));
  });

  test('a new listen address gets a certificate that names it', async () => {
    const home = await tempHome();
    await ensureServerTls({ home, hosts: certificateHosts('127.0.0.2') });
    const moved = await ensureServerTls({ home, hosts: certificateHosts('127.0.0.3') });
    assert.equal(moved.action, 'renewed');
    assert.ok(leaf(moved.cert).checkIP('127.0.0.3'));
  });

  test('key files loosened since are made 0600 again at start', async () => {
    const home = await tempHome();
    const hosts = certificateHosts('127.0.0.2');
    await ensureServerTls({ home, hosts });
    await chmod(path.join(home, 'tls', 'server.key'), 0o644);
    await chmod(path.join(home, 'tls', 'ca.key'), 0o640);
    await ensureServerTls({ home, hosts });
    assert.equal(await mode(path.join(home, 'tls', 'server.key')), 0o600);
    assert.equal(await mode(path.join(home, 'tls', 'ca.key')), 0o600);
  });

  test("the operator's certificate files are used as they are, never rewritten", async () => {
    const home = await tempHome();
    const now = new Date();
    const ca = await createAuthority({ name: 'operator CA', now, days: 100 });
    const server = await createServerCertificate({ ca, hosts: ['127.0.0.2'], now, days: 50 });
    const certFile = path.join(home, 'mine.pem');
    const keyFile = path.join(home, 'mine.key');
    const caFile = path.join(home, 'mine-ca.pem');
    await writeFile(certFile, server.cert);
    await writeFile(keyFile, server.key, { mode: 0o600 });
    await writeFile(caFile, ca.cert);
    const tls = await ensureServerTls({
      home,
      hosts: ['127.0.0.2'],
      files: { cert: certFile, key: keyFile, ca: caFile },
    });
    assert.equal(tls.action, 'operator');
    assert.equal(tls.caFingerprint, fingerprint(ca.cert));
    assert.equal(await readFile(certFile, 'utf8'), server.cert);
    await assert.rejects(stat(path.join(home, 'tls')), { code: 'ENOENT' });

    await assert.rejects(
      ensureServerTls({ home, hosts: ['127.0.0.2'], files: { cert: certFile, key: path.join(home, 'nope.key') } }),
      { code: 'ENOENT' },
    );
    const other = await createServerCertificate({ ca, hosts: ['127.0.0.2'], now, days: 50 });
    await writeFile(keyFile, other.key);
    await assert.rejects(
      ensureServerTls({ home, hosts: [], files: { cert: certFile, key: keyFile } }),
      /not the private key/,
    );
  });

  test('fingerprints are compared however they are typed', () => {
    const canonical = 'AB:'.repeat(31) + 'AB';
    assert.equal(normaliseFingerprint('ab'.repeat(32)), canonical);
    assert.equal(normaliseFingerprint(`sha256:${'ab'.repeat(32)}`), canonical);
    assert.equal(normaliseFingerprint(canonical.toLowerCase()), canonical);
    assert.equal(normaliseFingerprint('abcd'), undefined);
  });
});
