import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LevelLogger } from './log.ts';

/** Whether `pid` exists, including a postmaster that runs as another user (`postgres`, as root). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user (a postmaster run as `postgres`).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A live (not zombie) process named postgres: what a recorded postmaster pid must still be. */
export function isRunningPostgres(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const out = execFileSync('ps', ['-o', 'stat=,comm=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return !out.startsWith('Z') && out.includes('postgres');
  } catch {
    return false;
  }
}

/** Resolves once `pid` is no longer a running postmaster (for a server this process did not spawn). */
export async function waitUntilGone(pid: number): Promise<void> {
  while (isRunningPostgres(pid)) await sleep(100);
}

/**
 * Resolves once `pid` is gone (for a postmaster this process did not spawn), checking every 250 ms.
 * Only kill(pid, 0), cheap enough to run for ever: its parent (another handoff, or init once that
 * is gone) reaps it at once, so it is never a zombie for long.
 */
export function pollUntilGone(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!isAlive(pid)) resolve();
      else setTimeout(check, 250).unref();
    };
    check();
  });
}

/**
 * Postgres processes working in `dataDir` (every server process chdirs there). Not the process
 * group: each child of the postmaster makes a session of its own. Linux reads /proc; elsewhere
 * (macOS) lsof lists the working directories.
 */
function clusterProcesses(dataDir: string): number[] {
  const found: number[] = [];
  if (existsSync('/proc/self/cwd')) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
        if (readlinkSync(`/proc/${entry}/cwd`) === dataDir) found.push(Number(entry));
      } catch {
        // exited meanwhile, or not ours to read
      }
    }
    return found;
  }
  let out: string;
  try {
    out = execFileSync('lsof', ['-a', '-c', 'postgres', '-d', 'cwd', '-Fpn'], { encoding: 'utf8' });
  } catch (err) {
    out = String((err as { stdout?: unknown }).stdout ?? ''); // lsof exits 1 when it finds nothing
  }
  let pid = 0;
  for (const line of out.split('\n')) {
    if (line.startsWith('p')) pid = Number(line.slice(1));
    else if (line.startsWith('n') && line.slice(1) === dataDir && pid > 0) found.push(pid);
  }
  return found;
}

/**
 * SIGKILLs what is left of a dead postmaster's server (backends, checkpointer, walwriter) and
 * waits until they are gone. They notice the postmaster's death and exit on their own, but a
 * backend busy in a query (or stopped) only later, and a new server refuses to start while one of
 * them is still attached to the old shared memory ("pre-existing shared memory block is still in
 * use"). Call it only once the postmaster of `dataDir` is known to be dead.
 */
export async function killLeftovers(dataDir: string, log: LevelLogger): Promise<void> {
  const real = realpathSync(dataDir);
  const deadline = Date.now() + 10_000;
  let members = clusterProcesses(real);
  if (members.length > 0)
    log.warn(
      `killing ${members.length} Postgres process(es) left by the dead server of ${real}: ${members.join(', ')}`,
    );
  while (members.length > 0) {
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (Date.now() > deadline) throw new Error(`Postgres processes ${members.join(', ')} left in ${real} do not die`);
    await sleep(50);
    members = clusterProcesses(real);
  }
}
