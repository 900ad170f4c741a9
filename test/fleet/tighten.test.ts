import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Policy } from '@handoff/contracts';
import { intersectHosts, NO_HOST, schemaMismatch, schemaVersionOf, tighten } from '@handoff/executor';

/**
 * An executor's own policy.json may only narrow the fleet's policy (decision 89): its webhook host
 * list is intersected with the fleet's, and nothing else of it applies.
 */
describe("an executor's own file only narrows the fleet's webhook hosts", () => {
  test('no local list: the fleet list stands', () => {
    assert.deepEqual(intersectHosts(['hooks.example.com'], []), ['hooks.example.com']);
    assert.deepEqual(intersectHosts([], []), []);
  });

  test('both lists: only hosts both name, the narrower entry kept', () => {
    assert.deepEqual(intersectHosts(['a.example', 'b.example'], ['b.example', 'c.example']), ['b.example']);
    assert.deepEqual(intersectHosts(['a.example'], ['A.Example:8443']), ['A.Example:8443']);
    assert.deepEqual(intersectHosts(['a.example:443', 'a.example:8443'], ['a.example']), [
      'a.example:443',
      'a.example:8443',
    ]);
    assert.deepEqual(intersectHosts(['a.example:443'], ['a.example:80']), [NO_HOST]);
  });

  test('nothing in common allows nothing, never every public host', () => {
    assert.deepEqual(intersectHosts(['a.example'], ['z.example']), [NO_HOST]);
  });

  test('an empty fleet list opens no internal address, so a local entry naming one is dropped', () => {
    assert.deepEqual(intersectHosts([], ['hooks.example.com', '127.0.0.1', 'localhost:8080', '[::1]', '10.1.2.3:80']), [
      'hooks.example.com',
    ]);
    assert.deepEqual(intersectHosts([], ['192.168.1.10']), [NO_HOST]);
    // named by the fleet too, an internal address stays open
    assert.deepEqual(intersectHosts(['127.0.0.1'], ['127.0.0.1:9000']), ['127.0.0.1:9000']);
  });

  test("tighten takes every other setting from the fleet's policy, whatever the local file says", () => {
    const fleet = Policy.parse({
      lease: { ttlSeconds: 20 },
      retry: { maxAttempts: 3 },
      breaker: { volumeThreshold: 7 },
      webhook: { allowedHosts: ['a.example', 'b.example'], timeoutMs: 5000 },
    });
    const local = Policy.parse({
      lease: { ttlSeconds: 600 },
      retry: { maxAttempts: 50 },
      breaker: { volumeThreshold: 1000 },
      webhook: { allowedHosts: ['b.example'], timeoutMs: 600_000 },
    });
    const applied = tighten(fleet, local);
    assert.deepEqual(applied, { ...fleet, webhook: { ...fleet.webhook, allowedHosts: ['b.example'] } });
    assert.ok(Policy.safeParse(applied).success, 'what is applied is a valid policy');
  });
});

describe('schema versions', () => {
  test('the schema version is the highest migration number', () => {
    assert.equal(schemaVersionOf(['001_init.sql', '010_console_sessions.sql', '006_fleet_policy.sql', 'README']), 10);
    assert.equal(schemaVersionOf([]), 0);
  });

  test('a mismatch either way is one sentence saying what to upgrade', () => {
    assert.equal(schemaMismatch(6, 6, '1.2.3'), null);
    const tooOld = schemaMismatch(6, 7, '1.2.3')!;
    assert.equal(
      tooOld,
      'this executor (handoff 1.2.3) is too old for the database: it expects schema version 6 but the database is at 7; ' +
        'upgrade handoff on this node, then start it again',
    );
    const behind = schemaMismatch(7, 6, '1.2.3')!;
    assert.match(behind, /^the database is at schema version 6 but this executor \(handoff 1\.2\.3\) expects 7; /);
    assert.match(behind, /upgrade and start the coordinator first/);
    for (const sentence of [tooOld, behind]) assert.ok(!sentence.includes('\n') && !/\.\s/.test(sentence));
  });
});
