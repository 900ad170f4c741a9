import { statfs } from 'node:fs/promises';
import type { DoctorCheck } from '@handoff/contracts';
import { line } from './check.ts';

export const DISK_WARN_PERCENT = 80;
export const DISK_FAIL_PERCENT = 95;

/** Use of the file system that holds the data directory (the embedded Postgres's, else $HANDOFF_HOME). */
export async function diskChecks(dir: string): Promise<DoctorCheck[]> {
  let s;
  try {
    s = await statfs(dir);
  } catch (err) {
    return [line('disk', 'warn', `cannot read the disk use of ${dir}: ${(err as Error).message}`, 'check the path')];
  }
  // as df counts it: blocks in use against what an unprivileged user may fill
  const used = s.blocks - s.bfree;
  const percent = Math.round((used / (used + s.bavail)) * 100);
  const freeGb = ((s.bavail * s.bsize) / 1024 ** 3).toFixed(1);
  const found = `the disk of ${dir} is ${percent} % full (${freeGb} GB free)`;
  const todo = 'free space there or grow the disk; old backups and logs are the usual culprits';
  if (percent >= DISK_FAIL_PERCENT) return [line('disk', 'fail', found, todo)];
  if (percent >= DISK_WARN_PERCENT) return [line('disk', 'warn', found, todo)];
  return [line('disk', 'ok', found)];
}
