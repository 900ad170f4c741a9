import path from 'node:path';
import type pg from 'pg';
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { BackupPolicy } from '@handoff/contracts';
import { defaultBackupDir, embeddedSourceFor, takeBackup } from './backup.ts';
import { pruneBackups } from './prune.ts';

/** The queue of scheduled backups: one throttled job per `every` slot, whichever coordinator sends it. */
export const BACKUP_QUEUE = 'handoff.backup';
/** How often each coordinator offers the slot's job (a slot's second offer is a no-op). */
const OFFER_MS = 60_000;

export interface BackupScheduleOptions {
  boss: PgBoss;
  pool: pg.Pool;
  /** The database the coordinator uses (backed up physically when it is this home's embedded server). */
  url: string;
  home: string;
  /** The policy's `backup` section now (policy.json is reloaded on change); undefined: no schedule. */
  policy: () => BackupPolicy | undefined;
  log: Logger;
  offerMs?: number;
}

/**
 * Scheduled backups. Every coordinator offers a job each minute with pg-boss's throttle
 * (`sendThrottled`, a unique index on the queue, the slot and a key), so the `every` slot gets one job
 * however many coordinators run, and one of them takes it. A failure is logged as an error and left
 * as a failed backup_runs row (the notifier and doctor read it); the next slot tries again.
 */
export async function startBackupSchedule(opts: BackupScheduleOptions): Promise<{ stop(): Promise<void> }> {
  const { boss, log } = opts;
  const ensureQueue = async (): Promise<void> => {
    if (await boss.getQueue(BACKUP_QUEUE).catch(() => null)) return;
    // a backup is not worth repeating in a hurry: the next slot is the retry
    await boss
      .createQueue(BACKUP_QUEUE, { retryLimit: 0, expireInSeconds: 6 * 3600, deleteAfterSeconds: 7 * 86_400 })
      .catch(async (err: unknown) => {
        if (!(await boss.getQueue(BACKUP_QUEUE).catch(() => null))) throw err;
      });
  };
  const runOne = async (): Promise<void> => {
    const policy = opts.policy();
    if (!policy) return; // the section was removed after the job was sent
    const to = path.resolve(opts.home, policy.dir ?? defaultBackupDir(opts.home));
    const embedded = await embeddedSourceFor(opts.home, opts.url);
    try {
      const taken = await takeBackup({ url: opts.url, pool: opts.pool, embedded, to, kind: 'scheduled' });
      const pruned = await pruneBackups({ dir: to, keep: policy.keep, walArchive: embedded?.walArchive });
      log.info(
        { dir: taken.dir, ms: Math.round(taken.ms), pruned: pruned.removed.length, walPruned: pruned.walRemoved },
        'scheduled backup written',
      );
    } catch (err) {
      log.error({ err, dir: to }, 'scheduled backup failed');
      throw err;
    }
  };
  // the queue and its worker come with the first policy that asks for backups: none otherwise
  let workerId: string | undefined;
  const offer = async (): Promise<void> => {
    const policy = opts.policy();
    if (!policy) return;
    if (workerId === undefined) {
      await ensureQueue();
      workerId = await boss.work(BACKUP_QUEUE, { batchSize: 1, pollingIntervalSeconds: 30 }, async () => runOne());
    }
    await boss.sendThrottled(BACKUP_QUEUE, {}, {}, policy.every, 'scheduled');
  };
  let offering$: Promise<void> | undefined;
  const offering = (): void => {
    // one offer at a time, so a slow first one never starts a second worker
    offering$ ??= offer()
      .catch((err: unknown) => log.warn({ err }, 'could not offer the scheduled backup job'))
      .finally(() => (offering$ = undefined));
  };
  offering();
  const timer = setInterval(offering, opts.offerMs ?? OFFER_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await offering$;
      if (workerId !== undefined) await boss.offWork(BACKUP_QUEUE, { id: workerId }).catch(() => {});
    },
  };
}
