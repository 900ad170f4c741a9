import { sql } from 'kysely';
import type { Logger } from 'pino';
import { NOTIFY_CHANNEL, type NotifyEvent, type Policy } from '@handoff/contracts';
import { LOCK_NOTIFIER, type Db } from '@handoff/db';
import { IdempotencyConflict, IntentError, type IntentService } from '@handoff/intents';
import { digestFor } from './digest.ts';
import { noticeEvents } from './events.ts';
import { digestEvents, foldEvents, forgetOldDigests, markSent, unsentDigests, type FoldResult } from './windows.ts';

/** What intents the notifier writes record as their author. */
export const NOTIFIER_ACTOR = 'notifier';

/** A digest's intent key: one per target and window, so sending a digest again writes nothing new. */
export function digestKey(target: string, digestId: string): string {
  return `${NOTIFY_CHANNEL}:${target}:${digestId}`;
}

export interface NotifierOptions {
  db: Db;
  /** The intent store: digests are created as every intent is (validation, policy, ticket). */
  intents: IntentService;
  policy: () => Policy;
  /** The console's address for links when policy.json names none (the coordinator's own `/console/`). */
  consoleUrl: () => string;
  log: Logger;
  /** Between passes; default 1000 ms. */
  intervalMs?: number;
}

export interface PassResult {
  /** False when another coordinator held the pass (this one did nothing). */
  ran: boolean;
  noticed: Partial<Record<NotifyEvent, number>>;
  fold: FoldResult;
  /** Notify intents this pass created (a replay of an existing key is not counted). */
  created: number;
}

export interface Notifier {
  /** One pass: notice, fold, send what is sealed. The loop calls it; tests call it directly. */
  pass(): Promise<PassResult>;
  start(): void;
  /** Stops the loop after the pass in progress, if any. */
  stop(): Promise<void>;
}

const FORGET_EVERY_MS = 3_600_000;

/**
 * The notifier: runs in every coordinator, one pass at a time across them (LOCK_NOTIFIER, taken with
 * try, as the sweeper does). Noticing and folding are one transaction; sending is after it, through
 * the intent service, under keys that make a second send a replay (docs/architecture.md decision 118).
 */
export function createNotifier(opts: NotifierOptions): Notifier {
  const { db, intents, policy, log } = opts;
  const intervalMs = opts.intervalMs ?? 1000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  let forgottenAt = 0;

  async function send(digestId: string): Promise<number> {
    const events = await digestEvents(db, digestId);
    const { notify } = policy();
    const consoleUrl = notify.consoleUrl ?? opts.consoleUrl();
    let created = 0;
    for (const target of notify.targets) {
      const payload = digestFor(target, events, consoleUrl);
      if (!payload) continue;
      const body = {
        channel: NOTIFY_CHANNEL,
        account: target.name,
        idempotencyKey: digestKey(target.name, digestId),
        payload,
      };
      try {
        const outcome = await intents.create(body, NOTIFIER_ACTOR);
        if (outcome.created) created++;
      } catch (err) {
        // Already written with other words (the policy changed between two sends): it was sent.
        if (err instanceof IdempotencyConflict) {
          log.warn(
            { digestId, target: target.name },
            'notify: digest already written with other content; kept as it was',
          );
          continue;
        }
        // Refused for what it is (no notify connector, a payload the contract refuses): trying again
        // cannot help, and a digest must not hold back the ones after it.
        if (err instanceof IntentError) {
          log.error({ digestId, target: target.name, err }, `notify: digest refused: ${err.message}`);
          continue;
        }
        throw err;
      }
    }
    await markSent(db, digestId);
    return created;
  }

  async function pass(): Promise<PassResult> {
    const step = await db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${LOCK_NOTIFIER}) AS ok`.execute(
        trx,
      );
      if (!rows[0]!.ok) return null;
      const noticed = await noticeEvents(trx);
      const fold = await foldEvents(trx, policy().notify.digestSeconds);
      return { noticed, fold };
    });
    if (!step) return { ran: false, noticed: {}, fold: { window: 'none' }, created: 0 };
    if (step.fold.window === 'held')
      log.debug({ digestId: step.fold.digestId, gates: step.fold.by }, 'notify: a closed gate holds the digest');
    let created = 0;
    for (const digestId of await unsentDigests(db)) created += await send(digestId);
    if (created > 0) log.info({ created }, 'notify: digests written');
    if (Date.now() - forgottenAt > FORGET_EVERY_MS) {
      forgottenAt = Date.now();
      await forgetOldDigests(db);
    }
    return { ran: true, ...step, created };
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass()
        .catch((err: unknown) => log.warn({ err }, 'notify: pass failed; trying again'))
        .finally(() => {
          running = null;
          schedule();
        });
    }, intervalMs);
    timer.unref();
  }

  return {
    pass,
    start() {
      stopped = false;
      if (!timer) schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
