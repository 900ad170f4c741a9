import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Intent, IntentDetail, LiveReport } from '@handoff/contracts';
import { claimLease, renewLease } from '@handoff/intents';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';

/**
 * Leases are decided by the database's clock only (decision 91): an executor process whose own
 * clock is ten minutes ahead or behind (libfaketime) neither takes a lease the database says is
 * live nor holds one past the TTL the database counts; it takes over an expired one on time.
 */
const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));
const skip = LIBFAKETIME ? false : 'libfaketime is not installed (Debian package faketime; .ci/run installs it)';

const TTL = 2;
let stack: Stack;
let sink: RecordingSink;
let n = 0;

before(async () => {
  if (skip) return;
  sink = await startRecordingSink();
  sink.respondWith((req) => (req.path.startsWith('/hang') ? { hang: true } : undefined));
  stack = await startStack({
    policy: { approval: { rules: [{ channel: 'webhook', requireApproval: false }] }, lease: { ttlSeconds: TTL } },
  });
});

after(async () => {
  await stack?.close();
  await sink?.close();
});

async function create(path: string): Promise<Intent> {
  const key = `clock-${process.pid}-${++n}`;
  const res = await stack.api<Intent>('POST', '/v1/intents', {
    channel: 'webhook',
    account: 'default',
    idempotencyKey: key,
    payload: { url: `${sink.url}${path}`, body: { key } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const intentRow = (id: string) =>
  stack.tdb.db
    .selectFrom('intents')
    .select([
      'state',
      'lease_owner',
      'lease_epoch',
      'lease_expires_at',
      sql<number>`extract(epoch from lease_expires_at - clock_timestamp())::float8`.as('left'),
    ])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();

/** Leases the intent from the test itself, as another executor would: `owner` for `ttlSeconds`. */
async function holdLease(id: string, owner: string, ttlSeconds: number): Promise<number> {
  const lease = await claimLease(stack.tdb.db, { intentId: id, owner, ttlSeconds, heldKeys: ['webhook:*'] });
  assert.ok(lease, `${owner} leases ${id}`);
  return lease.epoch;
}

/** Every ticket pg-boss holds for this intent has been fetched and finished by an executor. */
async function ticketsHandled(id: string): Promise<boolean> {
  const { rows } = await sql<{ state: string }>`SELECT state FROM pgboss.job WHERE data->>'intentId' = ${id}`.execute(
    stack.tdb.db,
  );
  return rows.length > 0 && rows.every((r) => r.state === 'completed');
}

async function settled(id: string): Promise<IntentDetail> {
  return waitFor(`intent ${id} to settle`, async () => {
    const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${id}`)).body;
    return ['succeeded', 'dead', 'in_doubt'].includes(d.state) ? d : null;
  });
}

for (const offset of ['+10m', '-10m'] as const) {
  describe(`an executor whose clock is ${offset} off`, { skip }, () => {
    const executorId = offset.startsWith('+') ? 'clock-ahead' : 'clock-behind';
    const EXPIRING_TTL = 3;
    let faked: ExecutorProcess;
    let live: Intent;
    let expiring: Intent;
    let expiringEpoch: number;

    before(async () => {
      if (skip) return;
      // created while no executor runs: their tickets wait for the faked one, held live meanwhile
      live = await create('/live');
      expiring = await create('/expiring');
      await holdLease(live.id, 'holder', 120);
      expiringEpoch = await holdLease(expiring.id, 'short-holder', 120);
      faked = await stack.spawnExecutor(executorId, {
        LD_PRELOAD: LIBFAKETIME!,
        FAKETIME: offset,
        // timers keep real time; only the wall clock is off
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        HANDOFF_CHANNELS: 'webhook',
      });
    });

    after(async () => {
      if (!faked) return;
      faked.signal('SIGKILL');
      await faked.exited;
    });

    test('its clock really is off: the heartbeat shows the skew', async () => {
      const expected = (offset.startsWith('+') ? 1 : -1) * 600_000;
      const shown = await waitFor('its heartbeat', async () => {
        const report = (await stack.api<LiveReport>('GET', '/v1/live')).body;
        return report.executors.find((e) => e.id === executorId && e.status === 'running');
      });
      assert.ok(
        shown.clockSkewMs !== null && Math.abs(shown.clockSkewMs - expected) < 5000,
        `skew ${shown.clockSkewMs} ms, expected about ${expected}`,
      );
    });

    test('it does not take a lease the database says is live', async () => {
      // an intent of its own shows it is working; the live lease's ticket came first
      const control = await create('/control');
      assert.equal((await settled(control.id)).state, 'succeeded');
      await waitFor('the live lease ticket to be handled', () => ticketsHandled(live.id));
      await sleep(1000); // a few sweeper passes, too
      const row = await intentRow(live.id);
      assert.equal(row.lease_owner, 'holder');
      assert.equal(row.lease_epoch, 1);
      assert.equal(sink.countByKey().get(live.idempotencyKey), undefined, 'no call was made for it');
    });

    test('it takes over a lease once the database says it expired, not before', async () => {
      // the holder's last renewal: the lease now lapses EXPIRING_TTL seconds from now, by the database clock
      const renewed = await renewLease(stack.tdb.db, {
        intentId: expiring.id,
        owner: 'short-holder',
        epoch: expiringEpoch,
        ttlSeconds: EXPIRING_TTL,
      });
      assert.ok(renewed);
      const expiresAt = new Date((await intentRow(expiring.id)).lease_expires_at!).getTime();
      const done = await settled(expiring.id);
      assert.equal(done.state, 'succeeded');
      const attempt = done.attempts.find((a) => a.leaseEpoch === expiringEpoch + 1);
      assert.ok(attempt, JSON.stringify(done.attempts));
      assert.equal(attempt.executorId, executorId);
      assert.ok(
        new Date(attempt.startedAt).getTime() >= expiresAt,
        `taken at ${attempt.startedAt}, the lease expired at ${new Date(expiresAt).toISOString()}`,
      );
    });

    test('it holds its own lease no longer than the TTL by the database clock', async () => {
      const hanging = await create('/hang');
      const held = await waitFor('it to hold the hanging intent', async () => {
        const row = await intentRow(hanging.id);
        return row.lease_owner === executorId ? row : null;
      });
      assert.ok(held.left <= TTL + 0.5, `its lease runs ${held.left} s by the database clock, the TTL is ${TTL} s`);
      await waitFor('the call to reach the receiver', async () => sink.countByKey().get(hanging.idempotencyKey) === 1);

      // frozen, it cannot renew: the lease lapses TTL seconds after its last renewal, by the database clock
      faked.signal('SIGSTOP');
      const frozenAt = Date.now();
      try {
        await waitFor(
          'the lease to lapse',
          async () => {
            const row = await intentRow(hanging.id);
            return row.left < 0;
          },
          (TTL + 2) * 1000,
        );
        assert.ok(Date.now() - frozenAt <= (TTL + 1) * 1000, 'the lease lapsed within its TTL');
        await holdLease(hanging.id, 'rescuer', 60);
      } finally {
        faked.signal('SIGCONT');
      }
      await sleep(1500);
      const row = await intentRow(hanging.id);
      assert.equal(row.lease_owner, 'rescuer', 'the thawed executor did not take it back');
      assert.equal(row.lease_epoch, held.lease_epoch + 1);
      const detail = (await stack.api<IntentDetail>('GET', `/v1/intents/${hanging.id}`)).body;
      assert.deepEqual(detail.receipts, [], 'no receipt from the stale holder');
    });
  });
}
