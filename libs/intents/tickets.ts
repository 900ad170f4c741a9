import { PgBoss, fromKysely } from 'pg-boss';
import type { Db } from '@handoff/db';
import { pgErrorFields } from '@handoff/db';
import type { Logger } from 'pino';

/**
 * A pg-boss job is a wake-up ticket for one intent, never the record of it: the intents table
 * is the truth. Losing a ticket delays an intent until the sweeper re-issues one; a duplicate
 * ticket is harmless because the lease claim admits one holder. A ticket is written through
 * pg-boss's own kysely adapter (`fromKysely`) on the caller's transaction, so it commits or rolls
 * back with the intent's state.
 */
export function ticketQueue(channel: string): string {
  return `handoff.intents.${channel}`;
}

const QUEUE_OPTIONS = {
  notify: true,
  // The sweeper, not pg-boss expiry, recovers lost work; a short retry budget only smooths blips.
  retryLimit: 2,
  retryDelay: 1,
  expireInSeconds: 900,
  deleteAfterSeconds: 3600,
} as const;

const createdQueues = new WeakMap<PgBoss, Set<string>>();

export async function ensureTicketQueue(boss: PgBoss, channel: string): Promise<string> {
  const name = ticketQueue(channel);
  let known = createdQueues.get(boss);
  if (!known) {
    known = new Set();
    createdQueues.set(boss, known);
  }
  if (!known.has(name)) {
    const existing = await boss.getQueue(name).catch(() => null);
    if (!existing) {
      // two processes may race to create it; losing that race is fine if the queue now exists
      await boss.createQueue(name, QUEUE_OPTIONS).catch(async (err: unknown) => {
        if (!(await boss.getQueue(name).catch(() => null))) throw err;
      });
    }
    known.add(name);
  }
  return name;
}

export async function sendTicket(
  boss: PgBoss,
  trx: Db,
  channel: string,
  intentId: string,
  startAfter?: Date | null,
  priority = 0,
): Promise<void> {
  const queue = await ensureTicketQueue(boss, channel);
  await boss.send(
    queue,
    { intentId },
    { ...(startAfter ? { startAfter } : {}), ...(priority ? { priority } : {}), db: fromKysely(trx) },
  );
}

/**
 * Ticket priorities: an intent given a place in line for a rate-limit token should be fetched at
 * its moment, ahead of any backlog, or a newcomer takes the token meant for it.
 */
export const PRIORITY_TOKEN_SLOT = 10;

export async function sendTickets(
  boss: PgBoss,
  trx: Db,
  tickets: { channel: string; intentId: string; startAfter?: Date | null }[],
): Promise<void> {
  const byChannel = new Map<string, { data: object; startAfter?: Date }[]>();
  for (const t of tickets) {
    const jobs = byChannel.get(t.channel) ?? [];
    jobs.push({ data: { intentId: t.intentId }, ...(t.startAfter ? { startAfter: t.startAfter } : {}) });
    byChannel.set(t.channel, jobs);
  }
  for (const [channel, jobs] of byChannel) {
    const queue = await ensureTicketQueue(boss, channel);
    await boss.insert(queue, jobs, { db: fromKysely(trx) });
  }
}

export async function startBoss(
  databaseUrl: string,
  opts: { log?: Logger; max?: number; supervise?: boolean } = {},
): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: 'pgboss',
    useListenNotify: true,
    max: opts.max ?? 4,
    application_name: 'handoff-boss',
    supervise: opts.supervise ?? true,
    schedule: false,
  });
  // Once stopped, its connections going away (Postgres stopping after it) is expected.
  let stopped = false;
  boss.once('stopped', () => (stopped = true));
  boss.on('error', (err: unknown) =>
    (stopped ? opts.log?.debug : opts.log?.warn)?.call(opts.log, { err: pgErrorFields(err) }, 'pg-boss error'),
  );
  boss.on('warning', (w: unknown) => opts.log?.debug({ warning: w }, 'pg-boss warning'));
  await boss.start();
  return boss;
}
