import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { NotifyPayload, type PolicyInput } from '@handoff/contracts';
import { createConnectorRegistry, type Connector } from '@handoff/connectors';
import { createNotifier, type Notifier } from '@handoff/coordinator';
import { createDb, createPool, type Db } from '@handoff/db';
import { createIntentService } from '@handoff/intents';
import { quietLog, startPipeline, type PipelineHarness } from '../support/pipeline.ts';

export const CONSOLE = 'https://handoff.example/console/';

/** One target hears everything, one only of approvals: the digest per target differs by what it asked for. */
export const NOTIFY_POLICY = {
  digestSeconds: 1,
  consoleUrl: CONSOLE,
  targets: [
    { name: 'phone', kind: 'ntfy' as const },
    { name: 'team', kind: 'slack' as const, events: ['approval_needed' as const] },
  ],
};

export interface NotifyHarness extends PipelineHarness {
  /** A notifier as a coordinator runs one; `second` has its own pool and intent service, as another coordinator would. */
  notifier(opts?: { second?: boolean }): Notifier;
  /** Passes of every notifier given, all at once, until nothing is waiting, open or unsent. */
  settle(...notifiers: Notifier[]): Promise<void>;
  /** The notify intents written, oldest first, with their payloads parsed by the contract. */
  digests(): Promise<{ id: string; account: string; key: string; state: string; payload: NotifyPayload }[]>;
}

export async function startNotifyHarness(
  opts: { policy?: PolicyInput; connectors?: Connector[] } = {},
): Promise<NotifyHarness> {
  const h = await startPipeline({
    connectors: opts.connectors,
    policy: { notify: NOTIFY_POLICY, ...opts.policy },
  });
  const extraDbs: Db[] = [];
  const notifier = ({ second = false } = {}): Notifier => {
    let db = h.tdb.db;
    let intents = h.service;
    if (second) {
      db = createDb(createPool(h.tdb.url, { max: 4, applicationName: 'handoff-test-second' }));
      extraDbs.push(db);
      intents = createIntentService({
        db,
        boss: h.boss,
        connectors: createConnectorRegistry(),
        policy: () => h.policy,
        log: quietLog,
      });
    }
    return createNotifier({
      db,
      intents,
      policy: () => h.policy,
      consoleUrl: () => 'http://127.0.0.1:1/console/',
      log: quietLog,
    });
  };
  const settle = async (...notifiers: Notifier[]): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      await Promise.all(notifiers.map((n) => n.pass()));
      const { rows } = await sql<{ busy: boolean }>`
        SELECT EXISTS (SELECT 1 FROM notify_events WHERE digest_id IS NULL)
            OR EXISTS (SELECT 1 FROM notify_digests WHERE sent_at IS NULL) AS busy`.execute(h.tdb.db);
      if (!rows[0]!.busy) return;
      if (Date.now() > deadline) throw new Error('the notifier did not settle within 20 s');
      await sleep(100);
    }
  };
  const digests = async () => {
    const rows = await h.tdb.db
      .selectFrom('intents')
      .select(['id', 'account', 'idempotency_key', 'state', 'payload'])
      .where('channel', '=', 'notify')
      .orderBy('created_at')
      .orderBy('account')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      account: r.account,
      key: r.idempotency_key,
      state: r.state,
      payload: NotifyPayload.parse(r.payload),
    }));
  };
  return {
    ...h,
    notifier,
    settle,
    digests,
    close: async () => {
      for (const db of extraDbs) await db.destroy().catch(() => undefined);
      await h.close();
    },
  };
}
