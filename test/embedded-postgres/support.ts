import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeHome } from '../support/removeHome.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Runs `fn` once the file's tests are done, last registered first. */
export function atEnd(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** A temp HANDOFF_HOME; also removes the /var/lib/handoff/<hash> data dir used when running as root. */
export function tempHome(): string {
  const home = mkdtempSync(path.join(os.tmpdir(), 'handoff-pg-'));
  atEnd(() => removeHome(home));
  return home;
}

/** Alive and not a zombie: an orphaned postmaster that exited may wait a while for init to reap it. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return !existsSync('/proc/self'); // macOS has no /proc: kill(0) is all we have
  }
}

export async function waitFor(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}
