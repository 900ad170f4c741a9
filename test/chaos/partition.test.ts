import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import type { IntentDetail } from '@handoff/contracts';
import { createNetns, netnsUnavailable, type Netns } from '../support/netns.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.ts';
import { killExecutor, spawnExecutorInNetns } from './partitionSupport.ts';
import { countByState, createMany, report, sleep } from './support.ts';

/**
 * Two kinds of cut. `link`: the veth goes down; the namespaced side sees its carrier drop, so new
 * connections fail at once (EHOSTUNREACH) and established ones hang until TCP retransmits after the
 * heal. `blackhole`: the link stays up but nothing gets through (the proxies hold every byte and
 * every new connection), the partition where nobody is told; queries and connects just hang.
 */
const MODES = ['link', 'blackhole', 'link'] as const;
const ROUNDS = MODES.length;
const TTL_SECONDS = 2;
/** How long the link stays down: well past the lease TTL. */
const CUT_MS = 3 * TTL_SECONDS * 1000;
const LOAD = Number(process.env.CHAOS_PARTITION_INTENTS ?? 400);
/** What the stale holder may say once it can reach Postgres again (see pausePastLease.test.ts). */
const GAVE_UP = /stale lease holder|lease lost|lease expired|ticket failed/;

const unavailable = netnsUnavailable();

test(
  'partition: an executor cut off from Postgres and the receiver mid-effect is taken over; after the heal its writes are rejected',
  { skip: unavailable ? `cannot create network namespaces here: ${unavailable}` : false },
  async () => {
    let ns: Netns | undefined;
    let sink: RecordingSink | undefined;
    let stack: Stack | undefined;
    const proxies: TcpProxy[] = [];
    const nsExecutors: ExecutorProcess[] = [];
    try {
      ns = createNetns();
      sink = await startRecordingSink();
      stack = await startStack({
        policy: {
          approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
          lease: { ttlSeconds: TTL_SECONDS },
          retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 },
          // the sink is reached on the veth's private address, refused unless named (no SSRF by default)
          webhook: { allowedHosts: [ns.hostAddress, '127.0.0.1'] },
        },
      });
      const s = stack;
      const net = ns;
      const rs = sink;
      // the partitioned executor reaches Postgres and the sink only through these, on the veth address
      const dbUrl = new URL(s.tdb.url);
      const pgProxy = await startTcpProxy(net.hostAddress, Number(dbUrl.port));
      const sinkProxy = await startTcpProxy(net.hostAddress, rs.port);
      proxies.push(pgProxy, sinkProxy);
      dbUrl.hostname = net.hostAddress;
      dbUrl.port = String(pgProxy.port);
      const sinkBase = `http://${net.hostAddress}:${sinkProxy.port}`;
      const payload = (key: string) => ({ url: `${sinkBase}/part`, body: { key }, statusUrl: `${sinkBase}/__status` });

      const cut = (mode: 'link' | 'blackhole'): (() => void) => {
        if (mode === 'link') {
          net.cut();
          return () => net.heal();
        }
        // only the namespaced executor's connections: the host executor uses the same sink URL
        pgProxy.freeze(net.nsAddress);
        sinkProxy.freeze(net.nsAddress);
        return () => {
          pgProxy.thaw();
          sinkProxy.thaw();
        };
      };

      const a = await spawnExecutorInNetns(s, net, 'part-ns', dbUrl.toString());
      nsExecutors.push(a);
      let staleRejected = 0;
      const healMs: number[] = [];

      for (let round = 0; round < ROUNDS; round++) {
        const key = `part-${round}`;
        // only the namespaced executor runs, so it takes the intent; the receiver holds its answer
        // long enough for the call to be in flight when the link goes down
        rs.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 1500 } : undefined));
        const created = await s.api<IntentDetail>('POST', '/v1/intents', {
          channel: 'webhook',
          idempotencyKey: key,
          payload: payload(key),
        });
        assert.equal(created.status, 201);
        await waitFor(
          'the namespaced executor to call the sink',
          async () => rs.requests.find((r) => r.idempotencyKey === key),
          60_000,
          10,
        );
        const linesBefore = a.output.length;
        const heal = cut(MODES[round]!);
        const cutAt = Date.now();
        let b: ExecutorProcess | undefined;
        let detail: IntentDetail;
        try {
          b = await s.spawnExecutor(`part-host-${round}`);
          detail = await waitFor(
            'the host executor to take over and settle it',
            async () => {
              const d = (await s.api<IntentDetail>('GET', `/v1/intents/${created.body.id}`)).body;
              return d.state === 'succeeded' || d.state === 'in_doubt' || d.state === 'dead' ? d : null;
            },
            60_000,
            100,
          );
          await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
        } finally {
          heal();
        }
        const healedAt = Date.now();
        assert.equal(detail.state, 'succeeded');
        assert.equal(detail.receipts[0]?.source, 'reconcile', 'the new holder reconciled; it did not call again');
        assert.notEqual(detail.receipts[0]?.executorId, a.id);
        await waitFor(
          'the healed holder to give up its write',
          async () => a.output.slice(linesBefore).some((l) => GAVE_UP.test(l)),
          60_000,
          50,
        );
        staleRejected++;
        await killExecutor(b);
        // the healed executor works again without a restart: it takes the next round's intent (or this probe)
        const probe = `part-probe-${round}`;
        rs.respondWith(null);
        const probed = await s.api<IntentDetail>('POST', '/v1/intents', {
          channel: 'webhook',
          idempotencyKey: probe,
          payload: payload(probe),
        });
        assert.equal(probed.status, 201);
        const done = await waitFor(
          'the healed executor to run a new intent',
          async () => {
            const d = (await s.api<IntentDetail>('GET', `/v1/intents/${probed.body.id}`)).body;
            return d.state === 'succeeded' ? d : null;
          },
          60_000,
          50,
        );
        assert.equal(done.receipts[0]?.executorId, a.id);
        healMs.push(Date.now() - healedAt);
        const after = (await s.api<IntentDetail>('GET', `/v1/intents/${created.body.id}`)).body;
        assert.equal(after.receipts.length, 1, 'the stale holder added nothing');
        assert.equal(rs.countByKey().get(key), 1, 'no key twice at the sink');
      }

      // under load: both executors busy, the namespaced one cut off for past the TTL, then healed
      rs.respondWith(() => ({ delayMs: 50 }));
      const host = await s.spawnExecutor('part-host-load');
      const before = rs.requests.length;
      const creating = createMany(
        s,
        LOAD,
        (i) => ({ channel: 'webhook', idempotencyKey: `part-load-${i}`, payload: payload(`part-load-${i}`) }),
        10,
      );
      // both must be busy when the cut comes; the namespaced one may still be waiting out TCP's backoff
      // from the last round's cut, so wait for it to start attempts of its own
      const attemptsOf = async (executorId: string): Promise<number> =>
        Number(
          (
            await s.tdb.db
              .selectFrom('attempts')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .where('executor_id', '=', executorId)
              .executeTakeFirstOrThrow()
          ).n,
        );
      const nsAttemptsBefore = await attemptsOf(a.id);
      await waitFor(
        'work to flow on both executors',
        async () => rs.requests.length >= before + LOAD / 10 && (await attemptsOf(a.id)) >= nsAttemptsBefore + 5,
        120_000,
        20,
      );
      const cutLines = a.output.length;
      const healLoad = cut('blackhole');
      try {
        await sleep(CUT_MS);
      } finally {
        healLoad();
      }
      await creating;
      const total = ROUNDS * 2 + LOAD;
      await waitFor(
        'every intent to end terminal',
        async () => {
          const c = await countByState(s);
          return (c.succeeded ?? 0) + (c.in_doubt ?? 0) + (c.dead ?? 0) === total;
        },
        180_000,
        250,
      );
      const states = await countByState(s);
      const counts = rs.countByKey();
      const twice = [...counts.entries()].filter(([, c]) => c > 1);
      assert.deepEqual(twice, [], 'no key reached the sink twice');
      const succeeded = await s.tdb.db
        .selectFrom('intents')
        .select('idempotency_key')
        .where('state', '=', 'succeeded')
        .execute();
      assert.deepEqual(
        succeeded.filter((r) => !counts.has(r.idempotency_key)),
        [],
        'every succeeded key reached the sink',
      );
      assert.equal((states.succeeded ?? 0) + (states.in_doubt ?? 0) + (states.dead ?? 0), total);
      const loadRejected = a.output.slice(cutLines).filter((l) => GAVE_UP.test(l)).length;
      assert.equal(a.child.exitCode, null, `the namespaced executor exited:\n${a.output.slice(-20).join('\n')}`);
      assert.equal(host.child.exitCode, null);

      report('partition', {
        rounds: MODES.join(','),
        cut_ms: CUT_MS,
        ttl_s: TTL_SECONDS,
        takeovers: ROUNDS,
        stale_writes_rejected: staleRejected,
        heal_to_next_success_ms: healMs.join(','),
        load_intents: LOAD,
        load_ns_attempts: (await attemptsOf(a.id)) - nsAttemptsBefore,
        load_gave_up_lines: loadRejected,
        succeeded: states.succeeded ?? 0,
        in_doubt: states.in_doubt ?? 0,
        dead: states.dead ?? 0,
        keys_twice: twice.length,
        reconciles: rs.statusChecks(),
      });
    } finally {
      sink?.respondWith(null);
      // CHAOS_PARTITION_LOG=file keeps the namespaced executor's log for a look afterwards
      if (process.env.CHAOS_PARTITION_LOG)
        writeFileSync(process.env.CHAOS_PARTITION_LOG, nsExecutors.flatMap((e) => e.output).join('\n'));
      for (const e of nsExecutors) await killExecutor(e);
      await stack?.close();
      for (const p of proxies) await p.close();
      await sink?.close();
      ns?.destroy();
    }
  },
);
