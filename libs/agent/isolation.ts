import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentConfig, IsolationLevel } from '@handoff/contracts';
import { agentUser, closeHome, giveToAgent, giveTreeToAgent } from './agentUser.ts';
import type { RunAs } from './agentUser.ts';
import { isInside } from './sandbox.ts';

/**
 * OS isolation for the bash tool, detected once at start by running a probe (`true`) under each
 * candidate, strongest first: bubblewrap, then util-linux `unshare` on Linux; `sandbox-exec` on
 * macOS. Each shows the command the system read-only and hides everything the task does not need:
 * a fresh /tmp, empty tmpfs over /home, /root, /run, /var (so no host AF_UNIX socket and no other
 * service's data), /mnt, /media, /srv and $HANDOFF_HOME, /etc/shadow and the SSH host keys masked,
 * the working directory as the only writable place, no network unless agent.json says
 * `network: true`. A root service runs every command as an unprivileged user (agentUser.ts). When
 * no level works, bash is refused unless agent.json asks for `isolation: "none"` by name. See
 * docs/agent.md, "Isolation of bash".
 */
export interface BashInvocation {
  file: string;
  args: string[];
  /** Run the wrapper itself as this user (isolation `none` under a root service). */
  uid?: number;
  gid?: number;
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
  /** Said at every start, in health and in the live report: null when nothing is weakened. */
  warning: string | null;
  /** The unprivileged user commands run as (a root service), else null (the service's own user). */
  runAs: RunAs | null;
  /** The process to spawn for one command. Gives the working directory to `runAs` first. */
  wrap(opts: WrapOptions): BashInvocation;
}

export type IsolationMode = AgentConfig['isolation'];

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare'];
const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv'];
const SANDBOX_EXEC = '/usr/bin/sandbox-exec';

/**
 * Host directories a sandbox replaces with an empty tmpfs: people's homes (~/.ssh, ~/.aws, shell
 * history), runtime sockets (/run: docker.sock, the D-Bus buses, from which `systemd-run` is one
 * step), /var (Postgres clusters, service state, logs, /var/run), and mounted data.
 */
export const HIDDEN_DIRS = ['/home', '/root', '/run', '/var', '/mnt', '/media', '/srv'];
/** Replaced by a fresh, empty, world-writable (1777) tmpfs. */
const SCRATCH_DIRS = ['/tmp', '/dev/shm'];
/** Files shown as empty (/dev/null) even where the rest of /etc is readable. */
const MASKED_FILES = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/sudoers'];

/** A path as the kernel will see it (mountinfo, SBPL subpaths); unchanged when it does not exist. */
function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function isRealDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isRegularFile(p: string): boolean {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
}

/** What a Linux sandbox hides and recreates, computed from real paths (the same for bwrap and unshare). */
export interface SandboxLayout {
  /** The working directory (realpath): bound back writable. */
  box: string;
  /** Replaced by an empty tmpfs before the box is bound (/tmp and /dev/shm among them, made 1777). */
  hidden: string[];
  /** Hidden directories inside the box ($HANDOFF_HOME inside the workspace): covered after the bind. */
  hiddenInBox: string[];
  /** Directories between a hidden one and the box, recreated (0755) so the box can be reached. */
  ancestors: string[];
  /** Files covered by /dev/null. */
  masked: string[];
  /** /var/run's link target when /var is hidden and /var/run was a symlink (recreated). */
  varRun: string | null;
}

export function sandboxLayout(opts: { sandboxRoot: string; handoffHome: string }): SandboxLayout {
  const box = real(opts.sandboxRoot);
  const home = real(opts.handoffHome);
  // The unshare script takes lists one path a line.
  if (box.includes('\n') || home.includes('\n'))
    throw new Error(`a path with a newline cannot be sandboxed: ${JSON.stringify(box.includes('\n') ? box : home)}`);
  if (box === home)
    throw new Error(`the sandbox cannot be $HANDOFF_HOME itself (${home}): its secrets would be inside`);
  // /tmp and /dev/shm are fresh and writable (1777): the host's hold other programs' files and shared
  // memory (an embedded Postgres's buffers among them, readable by the user that runs it).
  const candidates = [...HIDDEN_DIRS.filter(isRealDir), ...SCRATCH_DIRS.filter(isRealDir)];
  // $HANDOFF_HOME gets its own tmpfs unless a hidden directory covers it already, and always when it
  // is inside the box (the box is bound back over whatever hid it).
  if (isRealDir(home) && (isInside(box, home) || !candidates.some((d) => isInside(d, home)))) candidates.push(home);
  // A box that is (or is inside) a hidden directory is bound back over it; one that contains a
  // hidden directory ($HANDOFF_HOME under the workspace) gets it covered again after the bind.
  const hiddenInBox = candidates.filter((d) => d !== box && isInside(box, d));
  const hidden = candidates.filter((d) => !hiddenInBox.includes(d) && d !== box);
  const ancestors: string[] = [];
  for (let dir = path.dirname(box); dir !== '/' && dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (hidden.some((h) => dir !== h && isInside(h, dir))) ancestors.unshift(dir);
  }
  let sshKeys: string[] = [];
  try {
    sshKeys = readdirSync('/etc/ssh')
      .filter((f) => /^ssh_host_.*_key$/.test(f))
      .map((f) => `/etc/ssh/${f}`);
  } catch {
    // no sshd here
  }
  const masked = [...MASKED_FILES, ...sshKeys].filter(isRegularFile);
  let varRun: string | null = null;
  try {
    if (hidden.includes('/var') && lstatSync('/var/run').isSymbolicLink()) varRun = readlinkSync('/var/run');
  } catch {
    // no /var/run
  }
  return { box, hidden, hiddenInBox, ancestors, masked, varRun };
}

/** setpriv's arguments to drop from root to `runAs` for good: no groups, no capabilities, no setuid gains. */
function dropPrivileges(setpriv: string, runAs: RunAs): string[] {
  return [
    setpriv,
    `--reuid=${runAs.uid}`,
    `--regid=${runAs.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

export interface LinuxWrapOptions extends WrapOptions {
  network: boolean;
  /** A root service: run bwrap/unshare as root (no user namespace), then drop to this user with setpriv. */
  runAs?: { user: RunAs; setpriv: string } | null;
}

export function bubblewrapArgs(opts: LinuxWrapOptions): string[] {
  const layout = sandboxLayout(opts);
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  for (const dir of layout.hidden) args.push('--perms', SCRATCH_DIRS.includes(dir) ? '1777' : '0755', '--tmpfs', dir);
  if (layout.hidden.includes('/var')) {
    args.push('--perms', '1777', '--dir', '/var/tmp');
    if (layout.varRun) args.push('--symlink', layout.varRun, '/var/run');
  }
  for (const file of layout.masked) args.push('--ro-bind', '/dev/null', file);
  for (const dir of layout.ancestors) args.push('--perms', '0755', '--dir', dir);
  args.push('--bind', layout.box, layout.box);
  for (const dir of layout.hiddenInBox) args.push('--perms', '0755', '--tmpfs', dir);
  args.push('--chdir', real(opts.cwd));
  if (opts.runAs) {
    // bwrap run by root makes no user namespace; the command drops to runAs below, so the
    // namespaces are named one by one (--unshare-all would add a user namespace mapping only root).
    args.push('--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try');
    if (!opts.network) args.push('--unshare-net');
  } else {
    args.push('--unshare-all');
    if (opts.network) args.push('--share-net');
  }
  // No --new-session: the command has no controlling terminal anyway (spawned detached, that is in a
  // session of its own, stdin /dev/null), so TIOCSTI injection is impossible; and staying in our
  // process group is what lets kill(-pgid) reach bwrap's inner process even while bwrap is still
  // setting up (--die-with-parent alone misses a parent that dies before the child arms it).
  args.push('--die-with-parent', '--');
  if (opts.runAs) args.push(...dropPrivileges(opts.runAs.setpriv, opts.runAs.user));
  args.push('bash', '-c', opts.command);
  return args;
}

/**
 * Runs as PID 1 of the new namespaces: as root of a user namespace (a service that is not root, so
 * `mount` works unprivileged), or as root itself (a root service, which drops to the agent's user
 * with setpriv for the command; either way the command runs with no capability). Arguments: $1 the
 * command, $2 the box (realpath), $3 the working directory, $4 `uid:gid` to drop to (or empty), $5 setpriv, $6 the hidden directories, $7 those
 * inside the box, $8 the masked files (newline-separated lists), $9 /var/run's link target.
 * The box may sit under a hidden directory: so first `cd` into it, and after the tmpfs mounts bind
 * the old directory back through /proc/self/cwd (with --no-canonicalize the kernel follows that
 * link to the hidden directory itself). Then every other mount (not the box, /tmp, /var/tmp,
 * /dev/shm, nor those now covered) is remounted read-only; any failure aborts (exit 125) rather than run
 * half-isolated. The command runs as a child, not exec'd: a PID 1 drops a SIGTERM it has no
 * handler for, while a child gets the stop's kill(-pgid) like any other member of the group; when
 * PID 1 exits the kernel kills whatever is left in the namespace.
 */
export const UNSHARE_SCRIPT = `set -euf
fail() { echo "handoff isolation (unshare): $*" >&2; exit 125; }
box=$2 hidden=$6 inbox=$7 masked=$8
IFS='
'
umask 022
mount --make-rprivate / || fail "cannot make mounts private"
cd -- "$box" || fail "cannot enter the sandbox"
for d in $hidden; do
  case $d in /tmp|/dev/shm) mode=1777 ;; *) mode=755 ;; esac
  mount -t tmpfs -o mode=$mode tmpfs "$d" || fail "cannot hide $d"
  if [ "$d" = /var ]; then
    mkdir /var/tmp && mount -t tmpfs -o mode=1777 tmpfs /var/tmp || fail "cannot make a fresh /var/tmp"
    if [ -n "$9" ]; then ln -s -- "$9" /var/run || fail "cannot link /var/run"; fi
  fi
done
for f in $masked; do mount --bind /dev/null "$f" || fail "cannot mask $f"; done
mkdir -p -- "$box" && mount --no-canonicalize --bind /proc/self/cwd "$box" || fail "cannot bind the sandbox"
for d in $inbox; do mount -t tmpfs -o mode=755 tmpfs "$d" || fail "cannot hide $d"; done
while IFS=' ' read -r _ _ _ _ mp _; do
  mp=$(printf '%b' "$mp")
  case $mp in "$box"|/tmp|/tmp/*|/var/tmp|/dev/shm) continue ;; esac
  covered=
  for d in $hidden $inbox; do case $mp in "$d"/*) covered=1 ;; esac; done
  if [ -n "$covered" ]; then continue; fi
  mount -o remount,bind,ro -- "$mp" 2>/dev/null || fail "cannot make $mp read-only"
done < /proc/self/mountinfo
cd -- "$3" || fail "cannot enter the working directory"
set +e
# The setup needed root of the namespace; the command gets no capability at all (else it could
# unmount the tmpfs that hide the host, or remount / writable).
if [ -n "$4" ]; then
  "$5" --reuid="\${4%:*}" --regid="\${4#*:}" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- bash -c "$1"
else
  "$5" --inh-caps=-all --bounding-set=-all --no-new-privs -- bash -c "$1"
fi
exit $?`;

export function unshareArgs(opts: LinuxWrapOptions & { setpriv: string }): string[] {
  const layout = sandboxLayout(opts);
  // A root service needs no user namespace to mount (and one mapping only root could not drop to runAs).
  const args = opts.runAs ? ['--mount'] : ['--user', '--map-root-user', '--mount'];
  args.push('--pid', '--fork', '--mount-proc', '--ipc', '--uts', '--cgroup');
  if (!opts.network) args.push('--net');
  // --kill-child: if unshare itself dies (SIGKILL after the stop's grace), PID 1 and so the whole
  // PID namespace die with it. unshare stays in our process group, so kill(-pgid) reaches it too.
  args.push(
    '--kill-child',
    '--',
    'bash',
    '-c',
    UNSHARE_SCRIPT,
    'handoff-sandbox',
    opts.command,
    layout.box,
    real(opts.cwd),
    opts.runAs ? `${opts.runAs.user.uid}:${opts.runAs.user.gid}` : '',
    opts.setpriv,
    layout.hidden.join('\n'),
    layout.hiddenInBox.join('\n'),
    layout.masked.join('\n'),
    layout.varRun ?? '',
  );
  return args;
}

/** An SBPL string literal: backslash and double quote escaped; control characters refused. */
function sbplString(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s))
    throw new Error(`path has a control character, cannot be put in a sandbox profile: ${JSON.stringify(s)}`);
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface SandboxExecProfileOptions {
  /** Realpaths (SBPL matches the resolved path: /private/var/..., not /var/...). */
  sandboxRoot: string;
  handoffHome: string;
  /** The user's home directory (`os.homedir()`, realpath): ~/.ssh, ~/.aws, keychains. */
  userHome: string;
  /** The per-user temp dir (`os.tmpdir()`, realpath), writable like bwrap's fresh /tmp. */
  tempDir: string;
  network: boolean;
}

/**
 * The seatbelt profile for macOS `sandbox-exec -p`, in the spirit of the Linux sandboxes (no mount
 * namespaces there, so hiding is a read denial). In SBPL the last matching rule wins, so: allow
 * everything, deny every write, deny reading the user's home, /Users, /var/root and $HANDOFF_HOME,
 * then re-allow the sandbox (it may sit inside them), the temp dir and a few devices. No network
 * unless allowed, and never a unix socket (docker.sock, ssh-agent, launchd's services): a local
 * daemon is a way out. Untested on a Mac in CI (Linux only).
 */
function ancestorsOf(p: string): string[] {
  const out: string[] = [];
  for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
    out.unshift(dir);
    if (dir === path.dirname(dir)) return out;
  }
}

export function sandboxExecProfile(opts: SandboxExecProfileOptions): string {
  const hidden = [...new Set(['/Users', '/private/var/root', opts.userHome, opts.handoffHome])];
  const lines = [
    '(version 1)',
    '(allow default)',
    '(deny file-write*)',
    ...hidden.map((p) => `(deny file-read* (subpath ${sbplString(p)}))`),
    `(allow file-read* file-write* (subpath ${sbplString(opts.sandboxRoot)}))`,
    // the way down to the sandbox: a stat of each hidden ancestor, not its listing or files
    `(allow file-read-metadata ${ancestorsOf(opts.sandboxRoot)
      .map((a) => `(literal ${sbplString(a)})`)
      .join(' ')})`,
    `(allow file-write* (subpath ${sbplString(opts.tempDir)}) (literal "/dev/null") (literal "/dev/zero") (literal "/dev/tty") (literal "/dev/dtracehelper") (regex #"^/dev/fd/"))`,
  ];
  lines.push(opts.network ? '(deny network-outbound (remote unix-socket))' : '(deny network*)');
  return `${lines.join('\n')}\n`;
}

export function sandboxExecArgs(opts: WrapOptions & { network: boolean; tempDir: string; userHome: string }): string[] {
  const profile = sandboxExecProfile({
    sandboxRoot: real(opts.sandboxRoot),
    handoffHome: real(opts.handoffHome),
    userHome: real(opts.userHome),
    tempDir: real(opts.tempDir),
    network: opts.network,
  });
  return ['-p', profile, 'bash', '-c', opts.command];
}

interface Candidate {
  level: Exclude<IsolationLevel, 'none'>;
  /** Runs the wrapper with `true`: the isolation when that works, else why not. */
  probe(): { ok: true; isolation: Isolation } | { ok: false; why: string };
}

export interface DetectOptions {
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

const NETWORK_WARNING =
  'network: true in agent.json: commands share the host network and can reach any host, loopback services (the coordinator, Postgres) included';

function candidates(opts: DetectOptions, runAs: RunAs | null): Candidate[] {
  const probeOpts = {
    command: 'true',
    cwd: opts.sandboxRoot,
    sandboxRoot: opts.sandboxRoot,
    handoffHome: opts.handoffHome,
    network: opts.network,
  };
  const net = opts.network ? 'shared' : 'off';
  const warning = opts.network ? NETWORK_WARNING : null;
  const who = runAs ? `, commands as ${runAs.name} (uid ${runAs.uid})` : '';
  const hides =
    'read-only /, writable working directory, fresh /tmp and /var/tmp; /home, /root, /run, /var, /mnt, /media, /srv and $HANDOFF_HOME hidden; /etc/shadow and SSH host keys masked';
  // A root service drops to runAs with setpriv inside the sandbox; without setpriv it cannot.
  const setpriv = SETPRIV_CANDIDATES.find((p) => existsSync(p));
  const drop = runAs ? (setpriv ? { user: runAs, setpriv } : null) : undefined;
  const give = (w: WrapOptions): void => giveToAgent(real(w.sandboxRoot), runAs);
  return [
    {
      level: 'bubblewrap',
      probe: () => {
        if (process.platform !== 'linux')
          return { ok: false, why: `bubblewrap is Linux only (this is ${process.platform})` };
        const bwrap = BWRAP_CANDIDATES.find((p) => existsSync(p));
        if (!bwrap) return { ok: false, why: 'bubblewrap (bwrap) is not installed' };
        if (drop === null)
          return {
            ok: false,
            why: 'setpriv (util-linux) is missing, so a root service cannot drop to an unprivileged user inside bubblewrap',
          };
        give(probeOpts);
        const why = runProbe(bwrap, bubblewrapArgs({ ...probeOpts, runAs: drop }), opts.sandboxRoot);
        if (why) return { ok: false, why: `bubblewrap does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'bubblewrap',
            detail: `${bwrap}: ${hides}; new PID/IPC/UTS${runAs ? '' : '/user'}/cgroup namespaces, network ${net}${who}`,
            warning,
            runAs,
            wrap: (w) => {
              give(w);
              return { file: bwrap, args: bubblewrapArgs({ ...w, network: opts.network, runAs: drop }) };
            },
          },
        };
      },
    },
    {
      level: 'unshare',
      probe: () => {
        if (process.platform !== 'linux')
          return { ok: false, why: `unshare is Linux only (this is ${process.platform})` };
        const unshare = UNSHARE_CANDIDATES.find((p) => existsSync(p));
        if (!unshare) return { ok: false, why: 'unshare (util-linux) is not installed' };
        // the command must leave the namespace's root capabilities behind: setpriv drops them
        if (!setpriv)
          return {
            ok: false,
            why: 'setpriv (util-linux) is missing, so the command would keep the capabilities of the namespace root',
          };
        give(probeOpts);
        const why = runProbe(unshare, unshareArgs({ ...probeOpts, runAs: drop, setpriv }), opts.sandboxRoot);
        if (why) return { ok: false, why: `unshare does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'unshare',
            detail: `${unshare}: ${hides}; new ${runAs ? '' : 'user/'}mount/PID/IPC/UTS/cgroup namespaces, network ${net}; host /dev (read-only)${who}`,
            warning,
            runAs,
            wrap: (w) => {
              give(w);
              return { file: unshare, args: unshareArgs({ ...w, network: opts.network, runAs: drop, setpriv }) };
            },
          },
        };
      },
    },
    {
      level: 'sandbox-exec',
      probe: () => {
        if (process.platform !== 'darwin')
          return { ok: false, why: `sandbox-exec is macOS only (this is ${process.platform})` };
        if (!existsSync(SANDBOX_EXEC)) return { ok: false, why: `${SANDBOX_EXEC} is missing` };
        const tempDir = os.tmpdir();
        const userHome = os.homedir();
        let why: string | null;
        try {
          why = runProbe(SANDBOX_EXEC, sandboxExecArgs({ ...probeOpts, tempDir, userHome }), opts.sandboxRoot);
        } catch (err) {
          why = (err as Error).message;
        }
        if (why) return { ok: false, why: `sandbox-exec does not work here: ${why}` };
        return {
          ok: true,
          isolation: {
            level: 'sandbox-exec',
            detail: `${SANDBOX_EXEC}: writes only in the sandbox and ${tempDir}; ${userHome}, /Users and $HANDOFF_HOME unreadable; no unix sockets; network ${net} (untested in CI)`,
            warning,
            runAs: null,
            wrap: (w) => ({
              file: SANDBOX_EXEC,
              args: sandboxExecArgs({ ...w, network: opts.network, tempDir, userHome }),
            }),
          },
        };
      },
    },
  ];
}

/** No level that may run: fail closed, every command is refused with the reason (exit 126). */
function refusing(reason: string): Isolation {
  const message = `bash refused: ${reason}`;
  return {
    level: 'none',
    detail: message,
    warning: message,
    runAs: null,
    wrap: () => ({ file: 'bash', args: ['-c', 'printf "%s\\n" "$1" >&2; exit 126', 'handoff-sandbox', message] }),
  };
}

/** `isolation: "none"`, asked for by name: the guard, a scrubbed environment and (under root) another user. */
function noIsolation(runAs: RunAs | null): Isolation {
  const who = runAs
    ? `as ${runAs.name} (uid ${runAs.uid}), who cannot read $HANDOFF_HOME or the coordinator's environment`
    : 'as the service user, who can read everything the service can ($HANDOFF_HOME included): only the exec guard stands in between';
  return {
    level: 'none',
    detail: `disabled by agent.json (isolation: none): commands run ${who}`,
    warning: `isolation "none" (agent.json): bash commands run without OS isolation, ${who}`,
    runAs,
    wrap: (w) => {
      giveToAgent(real(w.sandboxRoot), runAs);
      // libuv changes directory before it drops to uid/gid, so the working directory is entered even
      // where its parents ($HANDOFF_HOME, 0700) are closed to that user.
      return runAs
        ? { file: 'bash', args: ['-c', w.command], uid: runAs.uid, gid: runAs.gid }
        : { file: 'bash', args: ['-c', w.command] };
    },
  };
}

export function detectIsolation(opts: DetectOptions): Isolation {
  const user = agentUser();
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  // Under root, $HANDOFF_HOME (secrets.json, pg.json, policy.json, tokens) is closed to other users.
  if (root) closeHome(opts.handoffHome);
  if (root && !user.runAs) return refusing(`the service runs as root and ${user.note}`);
  giveTreeToAgent(real(opts.sandboxRoot), user.runAs);
  if (opts.mode === 'none') return noIsolation(user.runAs);
  const all = candidates(opts, user.runAs);
  if (opts.mode !== 'auto') {
    const forced = all.find((c) => c.level === opts.mode)!;
    const got = forced.probe();
    return got.ok ? got.isolation : refusing(`agent.json asks for isolation "${opts.mode}" but ${got.why}`);
  }
  const reasons: string[] = [];
  for (const candidate of all) {
    const got = candidate.probe();
    if (got.ok)
      return reasons.length
        ? { ...got.isolation, detail: `${got.isolation.detail} (${reasons.join('; ')})` }
        : got.isolation;
    // Levels of another OS are not worth a mention.
    if (!/ only \(this is /.test(got.why)) reasons.push(got.why);
  }
  const why = reasons.join('; ') || `no supported isolation on ${process.platform}`;
  return refusing(
    `no OS isolation works here (${why}); set "isolation": "none" in agent.json to run commands without one`,
  );
}
