import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeJoin, encodeJoin, InvalidJoinString, joinedNode, scramVerifier, type JoinInfo } from '@handoff/nodes';

/** The join string `handoff node add` prints and `handoff executor --join` keeps in node.json. */
const home = mkdtempSync(join(tmpdir(), 'handoff-join-'));
after(() => rmSync(home, { recursive: true, force: true }));

const info: JoinInfo = {
  v: 1,
  id: 'mac-mini',
  databaseUrl: 'postgres://handoff_node_mac-mini:secret@10.0.0.5:5432/handoff?sslmode=require',
  accounts: ['webhook:default', 'x:@acme', 'email:*'],
  ca: null,
};

describe('join strings', () => {
  test('a join string is one shell word and decodes to what was encoded', () => {
    const s = encodeJoin(info);
    assert.match(s, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeJoin(s), info);
  });

  test('a mangled join string is refused with a sentence', () => {
    assert.throws(() => decodeJoin('not-a-join'), InvalidJoinString);
    assert.throws(() => decodeJoin(encodeJoin(info).slice(0, 20)), InvalidJoinString);
  });

  test('--join stores node.json 0600; later starts read it back; the CA makes the connection verify-full', () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const joined = joinedNode(home, encodeJoin({ ...info, ca }));
    assert.equal(statSync(join(home, 'node.json')).mode & 0o777, 0o600);
    assert.deepEqual(joined?.channels, ['webhook', 'x', 'email']);
    const url = new URL(joined!.databaseUrl);
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    assert.equal(url.searchParams.get('sslrootcert'), join(home, 'node-ca.pem'));
    assert.deepEqual(joinedNode(home), joined, 'a later start needs no join string');
    assert.equal(joinedNode(mkdtempSync(join(tmpdir(), 'handoff-unjoined-'))), null, 'an unjoined home is no node');
  });

  test("a node's password is sent as a SCRAM-SHA-256 verifier, never as itself", () => {
    const v = scramVerifier('pw');
    assert.match(v, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.notEqual(scramVerifier('pw'), v, 'a fresh salt each time');
  });
});
