import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentConfig, IsolationLevel } from '@handoff/contracts';
import { isInside } from './sandbox.ts';

/**
 * OS isolation for the bash tool, detected once at start by running a probe (`true`) under each
 * candidate, strongest first: bubblewrap, then util-linux `unshare` on Linux; `sandbox-exec` on
 * macOS. Each gives a read-only view of the system with the sandbox as the only writable place,
 * $HANDOFF_HOME hidden and (unless agent.json says `network: true`) no network. When none works the
 * level is `none` and health says why. See docs/agent.md, "Isolation of bash".
 */
export interface BashInvocation {
  file: string;
  args: string[];
}

export interface WrapOptions {
  command: string;
  cwd: string;
  sandboxRoot: string;
  handoffHome: string;
}

export interface Isolation {
  level: IsolationLevel;
  /** One line for health: why this level. */
  detail: string;
  wrap(opts: WrapOptions): BashInvocation;
}

export type IsolationMode = AgentConfig['isolation'];

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare'];
const SANDBOX_EXEC = '/usr/bin/sandbox-exec';

/** A path as the kernel will see it (mountinfo, SBPL subpaths); unchanged when it does not exist. */
function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function bubblewrapArgs(opts: WrapOptions & { network: boolean }): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  // Hide $HANDOFF_HOME (tokens, secrets.json, the database) unless /tmp's tmpfs already does.
  if (existsSync(opts.handoffHome) && !isInside('/tmp', path.resolve(opts.handoffHome))) args.push('--tmpfs', opts.handoffHome);
  args.push('--bind', opts.sandboxRoot, opts.sandboxRoot, '--chdir', opts.cwd, '--unshare-all');
  if (opts.network) args.push('--share-net');
  // No --new-session: the command has no controlling terminal anyway (spawned detached, that is in a
  // session of its own, stdin /dev/null), so TIOCSTI injection is impossible; and staying in our
  // process group is what lets kill(-pgid) reach bwrap's inner process even while bwrap is still
  // setting up (--die-with-parent alone misses a parent that dies before the child arms it).
  args.push('--die-with-parent', '--', 'bash', '-c', opts.command);
  return args;
}

/**
 * Runs as PID 1 of the new namespaces, as root of a user namespace (so `mount` works, unprivileged).
 * Arguments: $1 the command, $2 the sandbox (realpath), $3 the working directory, $4 $HANDOFF_HOME.
 * The sandbox may sit under /tmp or $HANDOFF_HOME, which get hidden: so first `cd` into it, and after
 * the tmpfs mounts bind the old directory back through /proc/self/cwd (with --no-canonicalize the
 * kernel follows that link to the hidden directory itself). Then every mount but the sandbox and the
 * fresh /tmp (and those now covered by a tmpfs) is remounted read-only; any failure aborts (exit 125)
 * rather than run half-isolated.
 * The command runs as a child, not exec'd: a PID 1 drops a SIGTERM it has no handler for, while a
 * child gets the stop's kill(-pgid) like any other member of the group; when PID 1 exits the kernel
 * kills whatever is left in the namespace.
 */
export const UNSHARE_SCRIPT = `set -eu
fail() { echo "handoff isolation (unshare): $*" >&2; exit 125; }
box=$2 home=$4
mount --make-rprivate / || fail "cannot make mounts private"
cd -- "$box" || fail "cannot enter the sandbox"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "cannot mount a tmpfs on /tmp"
hidden=/tmp
case $home in ''|/tmp|/tmp/*) ;; *) if [ -d "$home" ]; then mount -t tmpfs -o mode=755 tmpfs "$home" || fail "cannot hide HANDOFF_HOME"; hidden=$home; fi ;; esac
mkdir -p -- "$box" && mount --no-canonicalize --bind /proc/self/cwd "$box" || fail "cannot bind the sandbox"
while read -r _ _ _ _ mp _; do
  mp=$(printf '%b' "$mp")
  # the sandbox and /tmp stay writable; mounts that were under /tmp or $HANDOFF_HOME are covered now
  case $mp in "$box"|/tmp|/tmp/*|"$hidden"/*) continue ;; esac
  mount -o remount,bind,ro -- "$mp" 2>/dev/null || fail "cannot make $mp read-only"
done < /proc/self/mountinfo
cd -- "$3" || fail "cannot enter the working directory"
set +e
bash -c "$1"
exit $?`;

export function unshareArgs(opts: WrapOptions & { network: boolean }): string[] {
  const args = ['--user', '--map-root-user', '--mount', '--pid', '--fork', '--mount-proc', '--ipc', '--uts', '--cgroup'];
  if (!opts.network) args.push('--net');
  // --kill-child: if unshare itself dies (SIGKILL after the stop's grace), PID 1 and so the whole
  // PID namespace die with it. unshare stays in our process group, so kill(-pgid) reaches it too.
  args.push('--kill-child', '--', 'bash', '-c', UNSHARE_SCRIPT, 'handoff-sandbox', opts.command, real(opts.sandboxRoot), real(opts.cwd), real(opts.handoffHome));
  return args;
}

/** An SBPL string literal: backslash and double quote escaped; control characters refused. */
function sbplString(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new Error(`path has a control character, cannot be put in a sandbox profile: ${JSON.stringify(s)}`);
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface SandboxExecProfileOptions {
  /** Realpaths (SBPL matches the resolved path: /private/var/..., not /var/...). */
  sandboxRoot: string;
  handoffHome: string;
  /** The per-user temp dir (`os.tmpdir()`, realpath), writable like bwrap's fresh /tmp. */
  tempDir: string;
  network: boolean;
}

/**
 * The seatbelt profile for macOS `sandbox-exec -p`. In SBPL the last matching rule wins, so: allow
 * everything, deny every write, deny reading $HANDOFF_HOME, then re-allow the sandbox (it may sit
 * inside $HANDOFF_HOME), the temp dir and a few devices. Untested on a Mac in CI (Linux only).
 */
export function sandboxExecProfile(opts: SandboxExecProfileOptions): string {
  const lines = [
    '(version 1)',
    '(allow default)',
    '(deny file-write*)',
    `(deny file-read* (subpath ${sbplString(opts.handoffHome)}))`,
    `(allow file-read* file-write* (subpath ${sbplString(opts.sandboxRoot)}))`,
    `(allow file-write* (subpath ${sbplString(opts.tempDir)}) (literal "/dev/null") (literal "/dev/zero") (literal "/dev/tty") (literal "/dev/dtracehelper") (regex #"^/dev/fd/"))`,
  ];
  // Unix sockets too: a local daemon's socket (docker, ssh-agent) is a way out as well.
  if (!opts.network) lines.push('(deny network*)');
  return `${lines.join('\n')}\n`;
}

export function sandboxExecArgs(opts: WrapOptions & { network: boolean; tempDir: string }): string[] {
  const profile = sandboxExecProfile({ sandboxRoot: real(opts.sandboxRoot), handoffHome: real(opts.handoffHome), tempDir: real(opts.tempDir), network: opts.network });
  return ['-p', profile, 'bash', '-c', opts.command];
}

const plain: Omit<Isolation, 'level' | 'detail'> = {
  wrap: ({ command }) => ({ file: 'bash', args: ['-c', command] }),
};

interface Candidate {
  level: Exclude<IsolationLevel, 'none'>;
  /** Runs the wrapper with `true`: the isolation when that works, else why not. */
  probe(): { ok: true; isolation: Isolation } | { ok: false; why: string };
}

interface DetectOptions {
  mode: IsolationMode;
  network: boolean;
  sandboxRoot: string;
  handoffHome: string;
}

function runProbe(file: string, args: string[], cwd: string): string | null {
  const probe = spawnSync(file, args, { cwd, timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (probe.status === 0) return null;
  return (probe.stderr ?? '').trim().split('\n')[0] || probe.error?.message || `exit ${probe.status ?? probe.signal}`;
}

function candidates(opts: DetectOptions): Candidate[] {
  const probeOpts = { command: 'true', cwd: opts.sandboxRoot, sandboxRoot: opts.sandboxRoot, handoffHome: opts.handoffHome, network: opts.network };
  const net = opts.network ? 'shared' : 'off';
  return [
    {
      level: 'bubblewrap',
      probe: () => {
        if (process.platform !== 'linux') return { ok: false, why: `bubblewrap is Linux only (this is ${process.platform})` };
        const bwrap = BWRAP_CANDIDATES.find((p) => existsSync(p));
        if (!bwrap) return { ok: false, why: 'bubblewrap (bwrap) is not installed' };
        const why = runProbe(bwrap, bubblewrapArgs(probeOpts), opts.sandboxRoot);
        if (why) return { ok: false, why: `bubblewrap does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'bubblewrap',
            detail: `${bwrap}, network ${net}`,
            wrap: (w) => ({ file: bwrap, args: bubblewrapArgs({ ...w, network: opts.network }) }),
          },
        };
      },
    },
    {
      level: 'unshare',
      probe: () => {
        if (process.platform !== 'linux') return { ok: false, why: `unshare is Linux only (this is ${process.platform})` };
        const unshare = UNSHARE_CANDIDATES.find((p) => existsSync(p));
        if (!unshare) return { ok: false, why: 'unshare (util-linux) is not installed' };
        const why = runProbe(unshare, unshareArgs(probeOpts), opts.sandboxRoot);
        if (why) return { ok: false, why: `unshare does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'unshare',
            detail:
              `${unshare}: read-only /, writable sandbox and fresh /tmp, $HANDOFF_HOME hidden, ` +
              `new user/mount/PID/IPC/UTS/cgroup namespaces, network ${net}; host /dev (read-only)`,
            wrap: (w) => ({ file: unshare, args: unshareArgs({ ...w, network: opts.network }) }),
          },
        };
      },
    },
    {
      level: 'sandbox-exec',
      probe: () => {
        if (process.platform !== 'darwin') return { ok: false, why: `sandbox-exec is macOS only (this is ${process.platform})` };
        if (!existsSync(SANDBOX_EXEC)) return { ok: false, why: `${SANDBOX_EXEC} is missing` };
        const tempDir = os.tmpdir();
        let why: string | null;
        try {
          why = runProbe(SANDBOX_EXEC, sandboxExecArgs({ ...probeOpts, tempDir }), opts.sandboxRoot);
        } catch (err) {
          why = (err as Error).message;
        }
        if (why) return { ok: false, why: `sandbox-exec does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'sandbox-exec',
            detail: `${SANDBOX_EXEC}: writes only in the sandbox and ${tempDir}, $HANDOFF_HOME unreadable, network ${net} (untested in CI)`,
            wrap: (w) => ({ file: SANDBOX_EXEC, args: sandboxExecArgs({ ...w, network: opts.network, tempDir }) }),
          },
        };
      },
    },
  ];
}

/** A forced level that does not work here: fail closed, every command is refused with the reason. */
function refusing(reason: string): Isolation {
  const message = `bash refused: ${reason}`;
  return {
    level: 'none',
    detail: message,
    wrap: () => ({ file: 'bash', args: ['-c', 'printf "%s\\n" "$1" >&2; exit 126', 'handoff-sandbox', message] }),
  };
}

export function detectIsolation(opts: DetectOptions): Isolation {
  if (opts.mode === 'none') return { ...plain, level: 'none', detail: 'disabled by agent.json (isolation: none)' };
  const all = candidates(opts);
  if (opts.mode !== 'auto') {
    const forced = all.find((c) => c.level === opts.mode)!;
    const got = forced.probe();
    return got.ok ? got.isolation : refusing(`agent.json asks for isolation "${opts.mode}" but ${got.why}`);
  }
  const reasons: string[] = [];
  for (const candidate of all) {
    const got = candidate.probe();
    if (got.ok) return reasons.length ? { ...got.isolation, detail: `${got.isolation.detail} (${reasons.join('; ')})` } : got.isolation;
    // Levels of another OS are not worth a mention.
    if (!/ only \(this is /.test(got.why)) reasons.push(got.why);
  }
  return { ...plain, level: 'none', detail: reasons.join('; ') || `no supported isolation on ${process.platform}` };
}
