import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import type { Intent, IntentDetail } from '@handoff/contracts';
import { createDb, type Db } from '@handoff/db';
import { claimLease, renewLease } from '@handoff/intents';
import { CreatedNode, NodeList } from '@handoff/nodes';
import { removeHome } from '../support/removeHome.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { waitFor } from '../support/stack.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.ts';
import {
  clusterUnavailable,
  createCluster,
  httpsApi,
  runCommand,
  runHandoff,
  spawnHandoff,
  type Cluster,
  type Running,
} from './clusterSupport.ts';

/**
 * Issue 11's proof, across real network namespaces: `handoff start --listen` in a primary namespace
 * (its own embedded Postgres, HTTPS, hostssl + scram), two nodes joined with their own join strings,
 * homes and secrets in namespaces of their own, the CLI in the host namespace over HTTPS with the
 * pinned CA. The primary always uses its own embedded Postgres, even when the suite runs with
 * DATABASE_URL: the suite is about `--listen`, and the primary's namespace cannot reach the host's
 * 127.0.0.1:5432 anyway.
 */
const unavailable = clusterUnavailable();
const skip = unavailable ? `cannot build the cluster's network namespaces here: ${unavailable}` : false;
const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));
const PSQL = spawnSync('psql', ['--version']).status === 0 ? 'psql' : undefined;

const TTL = 2;
const PORT = 18800;
/** How long node A's link stays down: well past the lease TTL. */
const CUT_MS = 3 * TTL * 1000;
/** What a stale holder says once it reaches Postgres again (see test/chaos/partition.test.ts). */
const GAVE_UP = /stale lease holder|lease lost|lease expired|ticket failed/;
const QUICK = { HANDOFF_SWEEP_MS: '250', HANDOFF_HEARTBEAT_MS: '500', HANDOFF_LOG_LEVEL: 'info' };
const A_SECRET = 'Bearer node-a-only-secret';

let cluster: Cluster;
let sink: RecordingSink;
let sinkProxy: TcpProxy;
let sinkBase: string;
let primaryHome: string;
let cliHome: string;
const nodeHome: Record<'a' | 'b', string> = { a: '', b: '' };
let primary: Running;
let nodeA: Running;
let nodeB: Running;
let fingerprint: string;
let coordinatorUrl: string;
let caFile: string;
let token: string;
let api: ReturnType<typeof httpsApi>;
let ownerPool: pg.Pool;
let owner: Db;
let createdA: CreatedNode;
let n = 0;

/** The CLI in the host namespace, by environment (no login): HANDOFF_URL, HANDOFF_CA, HANDOFF_TOKEN. */
const byEnv = () => ({ HANDOFF_URL: coordinatorUrl, HANDOFF_CA: caFile, HANDOFF_TOKEN: token, HANDOFF_HOME: cliHome });

function executorIn(member: 'a' | 'b', args: string[], env: Record<string, string> = {}): Running {
  return spawnHandoff(member === 'a' ? cluster.ns.nodeA : cluster.ns.nodeB, ['executor', ...args], {
    HANDOFF_HOME: nodeHome[member],
    ...QUICK,
    // a node carries two effects at a time, so shared work cannot all go to whichever polls first
    HANDOFF_EXECUTOR_BATCH: '2',
    HANDOFF_MAX_IN_FLIGHT: '2',
    ...env,
  });
}

async function startedExecutor(run: Running): Promise<Running> {
  await run.waitForLine(/handoff executor is running/, 180_000);
  return run;
}

async function create(account: string, prefix: string): Promise<Intent> {
  const key = `${prefix}-${process.pid}-${++n}`;
  const res = await api<Intent>('POST', '/v1/intents', {
    channel: 'webhook',
    account,
    idempotencyKey: key,
    payload: { url: `${sinkBase}/hook`, body: { key }, statusUrl: `${sinkBase}/__status` },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const detail = async (id: string): Promise<IntentDetail> => (await api<IntentDetail>('GET', `/v1/intents/${id}`)).body;

const settled = (id: string, timeoutMs = 120_000): Promise<IntentDetail> =>
  waitFor(
    `intent ${id} to settle`,
    async () => {
      const d = await detail(id);
      return ['succeeded', 'dead', 'in_doubt'].includes(d.state) ? d : null;
    },
    timeoutMs,
    100,
  );

const intentRow = (id: string) =>
  owner
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

before(
  async () => {
    if (skip) return;
    console.log(
      '# cluster suite: the primary runs its own embedded Postgres in its namespace (DATABASE_URL is not used here)',
    );
    cluster = createCluster();
    sink = await startRecordingSink();
    // the nodes reach the receiver on the bridge's address; it listens on loopback, so relay it there
    sinkProxy = await startTcpProxy(cluster.hostAddress, sink.port);
    sinkBase = `http://${cluster.hostAddress}:${sinkProxy.port}`;
    primaryHome = mkdtempSync(join(tmpdir(), 'handoff-cluster-primary-'));
    cliHome = mkdtempSync(join(tmpdir(), 'handoff-cluster-cli-'));
    nodeHome.a = mkdtempSync(join(tmpdir(), 'handoff-cluster-a-'));
    nodeHome.b = mkdtempSync(join(tmpdir(), 'handoff-cluster-b-'));
    writeFileSync(
      join(primaryHome, 'policy.json'),
      JSON.stringify({
        approval: {
          rules: [
            { channel: 'webhook', requireApproval: false },
            { channel: 'webhook', account: 'only-a', requireApproval: true },
          ],
        },
        lease: { ttlSeconds: TTL },
        retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 },
        // the receiver is on a private address: refused unless the fleet's policy names it
        webhook: { allowedHosts: [cluster.hostAddress] },
      }),
    );
    // each node holds its own secrets: only A holds only-a's credential
    writeFileSync(
      join(nodeHome.a, 'secrets.json'),
      JSON.stringify({
        webhook: { default: {}, 'only-a': { headers: { authorization: A_SECRET }, hosts: [cluster.hostAddress] } },
      }),
      { mode: 0o600 },
    );
    writeFileSync(join(nodeHome.b, 'secrets.json'), JSON.stringify({ webhook: { default: {}, 'only-b': {} } }), {
      mode: 0o600,
    });

    // the primary's own executor runs only noop: every webhook here is a node's
    primary = spawnHandoff(cluster.ns.primary, ['start', '--listen', cluster.address.primary], {
      HANDOFF_HOME: primaryHome,
      HANDOFF_PORT: String(PORT),
      HANDOFF_CHANNELS: 'noop',
      ...QUICK,
    });
    // the summary's last words: how another machine pins the CA
    const loginLine = await primary.waitForLine(/handoff login .*--fingerprint/, 300_000);
    fingerprint = /--fingerprint ([0-9A-F:]{95})/.exec(loginLine)?.[1] ?? '';
    assert.ok(fingerprint, `the summary shows the CA fingerprint: ${loginLine}`);
    coordinatorUrl = `https://${cluster.address.primary}:${PORT}`;
    caFile = join(primaryHome, 'tls', 'ca.pem');
    token = readFileSync(join(primaryHome, 'operator.token'), 'utf8').trim();
    api = httpsApi(coordinatorUrl, token, readFileSync(caFile, 'utf8'));

    // the operator's own connection, from the host namespace: TLS and a password, as hostssl demands
    const pgCfg = JSON.parse(readFileSync(join(primaryHome, 'pg.json'), 'utf8')) as { port: number; password: string };
    ownerPool = new pg.Pool({
      host: cluster.address.primary,
      port: pgCfg.port,
      user: 'postgres',
      password: pgCfg.password,
      database: 'handoff',
      ssl: { ca: readFileSync(caFile, 'utf8') },
      max: 3,
    });
    ownerPool.on('error', () => {});
    owner = createDb(ownerPool);
  },
  { timeout: 400_000 },
);

after(async () => {
  if (skip) return;
  for (const run of [nodeA, nodeB]) await run?.stop('SIGKILL');
  await primary?.stop('SIGINT', 30_000);
  await ownerPool?.end().catch(() => undefined);
  await sinkProxy?.close();
  await sink?.close();
  cluster?.destroy();
  if (primaryHome) removeHome(primaryHome);
  for (const home of [cliHome, nodeHome.a, nodeHome.b]) if (home) rmSync(home, { recursive: true, force: true });
});

test(
  "a new user's trial: handoff login and node add over HTTPS, two joined executors, an approved webhook performed once by its node",
  { skip, timeout: 400_000 },
  async () => {
    const login = await runHandoff(['login', coordinatorUrl, '--token', token, '--fingerprint', fingerprint], {
      HANDOFF_HOME: cliHome,
    });
    assert.equal(login.code, 0, login.stderr + login.stdout);

    // node A through the stored login, node B by environment: both ways a user has
    const addA = await runHandoff(['node', 'add', 'node-a', '--accounts', 'webhook:default,webhook:only-a', '--json'], {
      HANDOFF_HOME: cliHome,
    });
    assert.equal(addA.code, 0, addA.stderr + addA.stdout);
    createdA = CreatedNode.parse(JSON.parse(addA.stdout));
    assert.equal(createdA.caFingerprint, fingerprint);
    assert.equal(
      new URL(createdA.databaseUrl).hostname,
      cluster.address.primary,
      'the node reaches the listen address',
    );
    const addB = await runHandoff(['node', 'add', 'node-b', '--accounts', 'webhook:default,webhook:only-b'], byEnv());
    assert.equal(addB.code, 0, addB.stderr + addB.stdout);
    const joinB = /handoff executor --join '([^']+)'/.exec(addB.stdout)?.[1];
    assert.ok(joinB, addB.stdout);
    const joinA = /--join '([^']+)'/.exec(createdA.join)![1]!;

    nodeA = await startedExecutor(executorIn('a', ['--join', joinA]));
    nodeB = await startedExecutor(executorIn('b', ['--join', joinB]));

    const intent = await create('only-a', 'trial');
    assert.equal((await detail(intent.id)).state, 'pending_approval');
    const approved = await runHandoff(['approve', intent.id], { HANDOFF_HOME: cliHome });
    assert.equal(approved.code, 0, approved.stderr + approved.stdout);
    const done = await settled(intent.id);
    assert.equal(done.state, 'succeeded');
    assert.equal(done.receipts[0]?.executorId, 'node-a');
    const calls = sink.requests.filter((r) => r.idempotencyKey === intent.idempotencyKey);
    assert.equal(calls.length, 1, 'performed exactly once');
    assert.equal(calls[0]!.headers.authorization, A_SECRET, "node A's own credential went with it");

    const listed = await runHandoff(['node', 'list', '--json'], { HANDOFF_HOME: cliHome });
    assert.equal(listed.code, 0, listed.stderr);
    const nodes = NodeList.parse(JSON.parse(listed.stdout)).nodes;
    assert.deepEqual(
      nodes.map((x) => [x.id, x.accounts]),
      [
        ['node-a', ['webhook:default', 'webhook:only-a']],
        ['node-b', ['webhook:default', 'webhook:only-b']],
      ],
    );
    const beats = await waitFor(
      'both nodes to heartbeat',
      async () => {
        const l = NodeList.parse((await api('GET', '/v1/nodes')).body).nodes;
        return l.every((x) => x.lastHeartbeat) ? l : null;
      },
      60_000,
    );
    assert.equal(beats.length, 2);
  },
);

test(
  'work for a shared account spreads over both nodes; work for an account only node A holds runs only on A',
  { skip, timeout: 400_000 },
  async () => {
    // a slow receiver keeps each node busy a while, so the other one takes the next intents
    sink.respondWith((req) => (String(req.idempotencyKey).startsWith('shared-') ? { delayMs: 500 } : undefined));
    const shared: Intent[] = [];
    for (let i = 0; i < 24; i++) shared.push(await create('default', 'shared'));
    const onlyA: Intent[] = [];
    for (let i = 0; i < 4; i++) {
      const intent = await create('only-a', 'only-a');
      assert.equal((await api('POST', `/v1/intents/${intent.id}/approve`, {})).status, 200);
      onlyA.push(intent);
    }
    const sharedDone = await Promise.all(shared.map((i) => settled(i.id)));
    const onlyADone = await Promise.all(onlyA.map((i) => settled(i.id)));
    sink.respondWith(null);

    assert.ok(sharedDone.every((d) => d.state === 'succeeded'));
    const by = new Map<string, number>();
    for (const d of sharedDone) by.set(d.receipts[0]!.executorId!, (by.get(d.receipts[0]!.executorId!) ?? 0) + 1);
    assert.deepEqual([...by.keys()].sort(), ['node-a', 'node-b'], `receipts by executor: ${JSON.stringify([...by])}`);
    assert.deepEqual(
      onlyADone.map((d) => [d.state, d.receipts[0]?.executorId]),
      onlyA.map(() => ['succeeded', 'node-a']),
    );
    const counts = sink.countByKey();
    for (const i of [...shared, ...onlyA]) assert.equal(counts.get(i.idempotencyKey), 1, i.idempotencyKey);
    for (const i of onlyA) {
      const call = sink.requests.find((r) => r.idempotencyKey === i.idempotencyKey)!;
      assert.equal(call.headers.authorization, A_SECRET);
    }
    for (const i of shared) {
      const call = sink.requests.find((r) => r.idempotencyKey === i.idempotencyKey)!;
      assert.equal(call.headers.authorization, undefined, 'the default account carries no credential');
    }
  },
);

test(
  'node A cut off mid-effect: B takes over after the lease TTL and reconciles, no key twice at the receiver; healed, A works again',
  { skip, timeout: 400_000 },
  async () => {
    // only A runs while the intent is leased, and the receiver holds its answer while the link goes down
    assert.equal(await nodeB.stop('SIGTERM'), 0, nodeB.lines.join('\n'));
    const key = `part-${process.pid}`;
    // A's answer leaves only once the link is down, however slow this machine is: it reaches A after the heal
    let linkDown!: () => void;
    const afterCut = new Promise<void>((resolve) => (linkDown = resolve));
    sink.respondWith((req) => (req.idempotencyKey === key ? afterCut.then(() => ({ delayMs: 500 })) : undefined));
    const res = await api<Intent>('POST', '/v1/intents', {
      channel: 'webhook',
      account: 'default',
      idempotencyKey: key,
      payload: { url: `${sinkBase}/hook`, body: { key }, statusUrl: `${sinkBase}/__status` },
    });
    assert.equal(res.status, 201);
    const intent = res.body;
    await waitFor(
      'node A to call the receiver',
      async () => sink.requests.find((r) => r.idempotencyKey === key),
      120_000,
    );
    const held = await intentRow(intent.id);
    assert.equal(held.lease_owner, 'node-a');
    const linesBefore = nodeA.lines.length;

    cluster.cut('nodeA');
    linkDown();
    const cutAt = Date.now();
    let done: IntentDetail;
    try {
      // B again, from its node.json alone (a later start needs no join string)
      nodeB = await startedExecutor(executorIn('b', []));
      done = await settled(intent.id, 90_000);
      await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
    } finally {
      cluster.heal('nodeA');
    }
    const { rows } = await sql<{ now: Date }>`SELECT clock_timestamp() AS now`.execute(owner);
    const healedAt = rows[0]!.now;
    assert.equal(done.state, 'succeeded');
    assert.equal(done.receipts.length, 1);
    assert.equal(done.receipts[0]?.executorId, 'node-b');
    assert.equal(done.receipts[0]?.source, 'reconcile', 'B asked the receiver; it did not call again');

    await waitFor(
      'the healed node A to give up its stale write',
      async () => nodeA.lines.slice(linesBefore).some((l) => GAVE_UP.test(l)),
      90_000,
      100,
    );
    await waitFor(
      'node A to heartbeat again',
      async () => {
        const row = await owner
          .selectFrom('executors')
          .select('heartbeat_at')
          .where('id', '=', 'node-a')
          .executeTakeFirst();
        return row && new Date(row.heartbeat_at) > healedAt;
      },
      90_000,
      200,
    );
    // and it works again without a restart: an account only A holds
    sink.respondWith(null);
    const probe = await create('only-a', 'after-heal');
    assert.equal((await api('POST', `/v1/intents/${probe.id}/approve`, {})).status, 200);
    const probed = await settled(probe.id, 90_000);
    assert.equal(probed.state, 'succeeded');
    assert.equal(probed.receipts[0]?.executorId, 'node-a');

    assert.equal((await detail(intent.id)).receipts.length, 1, 'the stale holder added nothing');
    assert.equal(sink.countByKey().get(key), 1, 'no key twice at the receiver');
  },
);

/** Every statement a node's role must be refused (42501), tried with psql and A's own databaseUrl. */
const FORBIDDEN = [
  "INSERT INTO approvals (intent_id, decision, actor, payload_hash) VALUES (gen_random_uuid(), 'approve', 'node', 'h')",
  "UPDATE approvals SET actor = 'node'",
  "INSERT INTO gates (scope, enabled) VALUES ('global', true)",
  'UPDATE gates SET enabled = true',
  "INSERT INTO gate_history (scope, enabled) VALUES ('x', true)",
  'DELETE FROM gate_history',
  'SELECT token_hash FROM api_tokens',
  "INSERT INTO api_tokens (id, role, token_hash) VALUES (gen_random_uuid(), 'operator', 'h')",
  'SELECT * FROM audit_log',
  "INSERT INTO audit_log (actor, action) VALUES ('node', 'x')",
  "UPDATE intents SET state = 'approved'",
  "UPDATE intents SET payload = '{}'",
  'UPDATE intents SET approved_payload_hash = payload_hash',
  'INSERT INTO intents SELECT * FROM intents',
  "INSERT INTO receipts (intent_id, kind, source) VALUES (gen_random_uuid(), 'success', 'execute')",
  "UPDATE receipts SET kind = 'success'",
  'DELETE FROM receipts',
  "UPDATE attempts SET outcome = 'succeeded'",
  'DELETE FROM attempts',
  'ALTER TABLE receipts DISABLE TRIGGER receipts_append_only',
  'ALTER TABLE intents ADD COLUMN mine integer',
  'DROP TABLE receipts',
  'CREATE TABLE mine (a integer)',
  'CREATE TEMP TABLE mine (a integer)',
  'CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
  'SET ROLE postgres',
  'SET SESSION AUTHORIZATION postgres',
  'SELECT handoff_grant_node_group()',
];

/** psql in node A's namespace with `url`: exit code and what it printed. */
const psqlAsA = (url: string, statement: string) =>
  runCommand(
    cluster.ns.nodeA,
    PSQL!,
    [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-c', statement],
    {
      PGCONNECT_TIMEOUT: '10',
    },
  );

test(
  "psql with node A's own databaseUrl: every forbidden statement is refused (42501) or changes nothing; no TLS or a wrong password is refused",
  { skip: skip || (PSQL ? false : 'psql is not installed (Debian package postgresql-client)'), timeout: 400_000 },
  async () => {
    const url = createdA.databaseUrl;
    // one session, one statement a line, going on after each error: psql names the line of each refusal
    const script = join(cliHome, 'forbidden.sql');
    writeFileSync(script, FORBIDDEN.map((st) => `${st};`).join('\n') + '\n');
    const run = await runCommand(cluster.ns.nodeA, PSQL!, [url, '-X', '-v', 'VERBOSITY=verbose', '-f', script], {
      PGCONNECT_TIMEOUT: '10',
    });
    const errors = [...run.stderr.matchAll(/^psql:[^\n]*?:(\d+): ERROR:\s+(\w+):/gm)].map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(
      errors,
      FORBIDDEN.map((_, i) => [i + 1, '42501']),
      `every statement refused with 42501, in order:\n${run.stdout}\n${run.stderr}`,
    );

    // an account no node was registered for: A's claim leases nothing, its fenced write writes nothing
    const orphan = await create('orphan', 'orphan');
    const claim = await psqlAsA(
      url,
      `SELECT count(*) FROM handoff_claim_leases(ARRAY['${orphan.id}']::uuid[], 'node-a', 60, ARRAY['webhook:*'])`,
    );
    assert.equal(claim.code, 0, claim.stderr);
    assert.equal(claim.stdout.trim(), '0');
    const before = await intentRow(orphan.id);
    const write = await psqlAsA(
      url,
      `SELECT count(*) FROM handoff_append_success_receipts(ARRAY['${orphan.id}']::uuid[], ARRAY[${before.lease_epoch}], ARRAY[1], ARRAY['e'], ARRAY[NULL::text], ARRAY['node-a'], ARRAY['execute'], ARRAY['succeeded'])`,
    );
    assert.equal(write.code, 0, write.stderr);
    assert.equal(write.stdout.trim(), '0');
    const sweep = await psqlAsA(url, 'SELECT handoff_sweep(0, 0, 0, 100)');
    assert.equal(sweep.code, 0, sweep.stderr);
    const afterRow = await intentRow(orphan.id);
    assert.equal(afterRow.lease_epoch, 0, 'never leased');
    assert.equal(afterRow.state, before.state);
    assert.deepEqual((await detail(orphan.id)).receipts, []);

    // without TLS: no pg_hba rule lets it in; a wrong password: refused
    const plain = new URL(url);
    plain.searchParams.set('sslmode', 'disable');
    const noTls = await psqlAsA(plain.toString(), 'SELECT 1');
    assert.notEqual(noTls.code, 0);
    assert.match(noTls.stderr, /no pg_hba\.conf entry .*no encryption/, noTls.stderr);
    const wrong = new URL(url);
    wrong.password = `${wrong.password}x`;
    const badPassword = await psqlAsA(wrong.toString(), 'SELECT 1');
    assert.notEqual(badPassword.code, 0);
    assert.match(badPassword.stderr, /password authentication failed/, badPassword.stderr);
    // the same statement with the right credentials works: the refusals above are the rules, not the network
    const ok = await psqlAsA(url, 'SELECT 1');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '1');
  },
);

test(
  'an executor whose clock is ten minutes ahead neither steals a live lease nor keeps one past the TTL by the database clock',
  { skip: skip || (LIBFAKETIME ? false : 'libfaketime is not installed (Debian package faketime)'), timeout: 400_000 },
  async () => {
    assert.equal(await nodeB.stop('SIGTERM'), 0, nodeB.lines.join('\n'));
    sink.respondWith((req) => (String(req.idempotencyKey).startsWith('clock-hang') ? { hang: true } : undefined));
    // created while B is down; only B serves only-b, so the faked B is the only taker
    const live = await create('only-b', 'clock-live');
    const expiring = await create('only-b', 'clock-expiring');
    const hold = async (id: string, holder: string): Promise<number> => {
      const lease = await claimLease(owner, { intentId: id, owner: holder, ttlSeconds: 120, heldKeys: ['webhook:*'] });
      assert.ok(lease, `${holder} leases ${id}`);
      return lease.epoch;
    };
    await hold(live.id, 'holder');
    const expiringEpoch = await hold(expiring.id, 'short-holder');

    nodeB = await startedExecutor(
      executorIn('b', [], {
        LD_PRELOAD: LIBFAKETIME!,
        FAKETIME: '+10m',
        // timers keep real time; only the wall clock is off
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
      }),
    );
    const control = await create('only-b', 'clock-control');
    const controlled = await settled(control.id);
    assert.equal(controlled.receipts[0]?.executorId, 'node-b', 'the faked executor works');
    await sleep(1000); // a few sweeps and polls
    const liveRow = await intentRow(live.id);
    assert.equal(liveRow.lease_owner, 'holder');
    assert.equal(liveRow.lease_epoch, 1);
    assert.equal(sink.countByKey().get(live.idempotencyKey), undefined, 'no call was made for the live lease');

    // the holder's last renewal: its lease now lapses 3 s from now by the database clock
    assert.ok(
      await renewLease(owner, { intentId: expiring.id, owner: 'short-holder', epoch: expiringEpoch, ttlSeconds: 3 }),
    );
    const expiresAt = new Date((await intentRow(expiring.id)).lease_expires_at!).getTime();
    const took = await settled(expiring.id);
    assert.equal(took.state, 'succeeded');
    const attempt = took.attempts.find((a) => a.leaseEpoch === expiringEpoch + 1);
    assert.ok(attempt, JSON.stringify(took.attempts));
    assert.equal(attempt.executorId, 'node-b');
    assert.ok(new Date(attempt.startedAt).getTime() >= expiresAt, 'taken over only once expired');

    // its own lease: no longer than the TTL by the database clock, and not taken back once lapsed
    const hanging = await create('only-b', 'clock-hang');
    const heldRow = await waitFor(
      'B to hold the hanging intent',
      async () => {
        const row = await intentRow(hanging.id);
        return row.lease_owner === 'node-b' ? row : null;
      },
      120_000,
    ).catch(async (err: unknown) => {
      console.log(JSON.stringify(await detail(hanging.id)), nodeB.lines.slice(-30).join('\n'));
      throw err;
    });
    assert.ok(heldRow.left <= TTL + 0.5, `its lease runs ${heldRow.left} s by the database clock, the TTL is ${TTL} s`);
    await waitFor(
      'the call to reach the receiver',
      async () => sink.countByKey().get(hanging.idempotencyKey) === 1,
      60_000,
    );
    nodeB.child.kill('SIGSTOP');
    try {
      await waitFor('the lease to lapse', async () => (await intentRow(hanging.id)).left < 0, (TTL + 5) * 1000, 100);
      await hold(hanging.id, 'rescuer');
    } finally {
      nodeB.child.kill('SIGCONT');
    }
    await sleep(1500);
    const after = await intentRow(hanging.id);
    assert.equal(after.lease_owner, 'rescuer', 'the thawed executor did not take it back');
    assert.equal(after.lease_epoch, heldRow.lease_epoch + 1);
    assert.deepEqual((await detail(hanging.id)).receipts, [], 'no receipt from the stale holder');
    sink.respondWith(null);
  },
);

test(
  'handoff node remove: node A can no longer connect, with psql or its executor',
  { skip: skip || (PSQL ? false : 'psql is not installed (Debian package postgresql-client)'), timeout: 400_000 },
  async (t) => {
    // it may have stopped before the checks below are done: what it says is counted from here
    const linesAtRemoval = nodeA.lines.length;
    const removed = await runHandoff(['node', 'remove', 'node-a'], { HANDOFF_HOME: cliHome });
    assert.equal(removed.code, 0, removed.stderr + removed.stdout);
    assert.match(removed.stdout, /node node-a removed: its role is dropped, [1-9]\d* session\(s\) ended/);
    const run = await psqlAsA(createdA.databaseUrl, 'SELECT 1');
    assert.notEqual(run.code, 0, run.stdout);
    assert.match(run.stderr, /password authentication failed|not permitted to log in|does not exist/, run.stderr);
    const listed = NodeList.parse((await api('GET', '/v1/nodes')).body).nodes;
    assert.deepEqual(
      listed.map((x) => x.id),
      ['node-b'],
    );
    // the running executor stops by itself: one sentence, exit 78 (EX_CONFIG, decision 141)
    const stoppedWith = await Promise.race([nodeA.exited, sleep(60_000).then(() => 'still running')]);
    const said = nodeA.lines
      .slice(linesAtRemoval)
      .map((l) => /"msg":"([^"]*)"/.exec(l)?.[1] ?? l)
      .filter((l, i, all) => all.indexOf(l) === i);
    t.diagnostic(`node A's running executor after its removal: ${stoppedWith}; said: ${said.slice(0, 6).join(' | ')}`);
    assert.equal(stoppedWith, 78, said.join('\n'));
    assert.match(said.join('\n'), /this node's database role was refused \((28P01|28000)\)/);
    // its executor, started again from its node.json, is refused at the door
    await nodeA.stop('SIGKILL');
    nodeA = executorIn('a', []);
    const code = await nodeA.exited;
    assert.equal(code, 78, nodeA.lines.join('\n'));
    t.diagnostic(`the removed node's executor: ${nodeA.lines.filter((l) => !l.startsWith('{')).join(' | ')}`);
    assert.match(nodeA.lines.join('\n'), /refused|password authentication failed|not permitted/);
  },
);
