import { spawnSync } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Who runs the agent's commands. When the service runs as root, a command must not be root: root
 * reads every file (secrets.json, pg.json, /etc/shadow) and every process's /proc/<pid>/environ
 * whatever the sandbox leaves visible. So every bash command then runs as a dedicated system user,
 * `handoff-agent` (created on first use with `useradd --system`), or `nobody` when it cannot be
 * created. A service that is not root runs commands as itself: the sandbox hides what that user
 * may read. See docs/agent.md, "Who runs a command".
 */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export const AGENT_USER = 'handoff-agent';

function lookup(name: string): RunAs | null {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined && /^\d+$/.test(uid) && /^\d+$/.test(gid))
      return { name, uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

let resolved: { runAs: RunAs | null; note: string } | undefined;

/** Resolves (once) the user for the agent's commands: null when the service is not root. */
export function agentUser(): { runAs: RunAs | null; note: string } {
  if (resolved) return resolved;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    resolved = { runAs: null, note: 'commands run as the service user (not root)' };
    return resolved;
  }
  let user = lookup(AGENT_USER);
  let note = `commands run as ${AGENT_USER}, not root`;
  if (!user) {
    const made = spawnSync(
      'useradd',
      [
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        AGENT_USER,
      ],
      {
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    user = lookup(AGENT_USER);
    if (user) note = `commands run as ${AGENT_USER} (created), not root`;
    else {
      const why = (made.stderr ?? '').trim().split('\n')[0] || made.error?.message || `exit ${made.status}`;
      user = lookup('nobody');
      note = user
        ? `commands run as nobody, not root (could not create ${AGENT_USER}: ${why})`
        : `no user to run commands as (could not create ${AGENT_USER}: ${why}; no nobody)`;
    }
  }
  if (user && user.uid === 0) user = null;
  resolved = { runAs: user, note };
  return resolved;
}

/**
 * Makes `p` (a directory or file the agent works in, never a symlink) owned by the agent's user, so
 * its commands can write there. Only a root service has anything to do; a path owned by another
 * user than root is left alone (a person's files are not handed over).
 */
export function giveToAgent(p: string, runAs: RunAs | null): void {
  if (!runAs) return;
  const st = lstatSync(p);
  if (st.isSymbolicLink() || st.uid !== 0) return;
  // A regular file with another name may be a file outside the sandbox: never chown that.
  if (st.isFile() && st.nlink > 1) return;
  lchownSync(p, runAs.uid, runAs.gid);
}

/**
 * Gives what root left in the sandbox root to the agent's user, once at start (files a person or
 * an older version put there), so its commands can change them. Symlinks are not followed, hard
 * links and other users' files are left alone; at most `limit` entries are visited.
 */
export function giveTreeToAgent(root: string, runAs: RunAs | null, limit = 200_000): void {
  if (!runAs) return;
  let visited = 0;
  const walk = (dir: string): void => {
    giveToAgent(dir, runAs);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (++visited > limit) return;
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) giveToAgent(p, runAs);
    }
  };
  walk(root);
}

/** $HANDOFF_HOME holds secrets.json, pg.json, policy.json and tokens: only its owner may enter. */
export function closeHome(home: string): boolean {
  try {
    const mode = statSync(home).mode & 0o777;
    if ((mode & 0o077) === 0) return false;
    chmodSync(home, mode & 0o700);
    return true;
  } catch {
    return false;
  }
}
