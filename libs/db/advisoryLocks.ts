/**
 * Every Postgres advisory-lock key handoff takes, in one place so no two uses collide. All are
 * bigint keys in the one-argument (single 64-bit key) space.
 */

/** 'handoff' in ASCII as a bigint: migrations serialise on it across every handoff process on any database. */
export const LOCK_MIGRATIONS = '29380524337227366';

/**
 * A gate change takes it exclusively; recording an attempt takes it shared. So an attempt either
 * commits before the gate change commits, or sees the closed gate: no attempt starts after a gate's
 * commit time.
 */
export const LOCK_GATES = 7_341_001;

/** One sweeper at a time across every process (taken with try: a busy sweeper is skipped, not waited for). */
export const LOCK_SWEEPER = 7_341_002;

/**
 * One notifier pass at a time across every coordinator (taken with try: a coordinator that finds it
 * held skips its pass; the holder notices and folds for everyone).
 */
export const LOCK_NOTIFIER = 7_341_003;

/** One housekeeping pass at a time across every coordinator (taken with try: a busy one is skipped). */
export const LOCK_HOUSEKEEPING = 7_341_004;
