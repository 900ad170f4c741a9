/**
 * Advisory lock keys, in one place so no two uses collide.
 * GATES: a gate change takes it exclusively; recording an attempt takes it shared. So an attempt
 * either commits before the gate change commits, or sees the closed gate: no attempt starts after
 * a gate's commit time.
 */
export const LOCK_GATES = 7_341_001;
export const LOCK_SWEEPER = 7_341_002;
