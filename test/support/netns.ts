import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * A network namespace joined to the host by one veth pair, for partition tests. Addresses come from
 * 10.213.<n>.0/30 (host .1, namespace .2), created here and nowhere else: the namespace has no
 * default route, so a process inside reaches the host's veth address and nothing more.
 */
export interface Netns {
  name: string;
  /** The host side's address: what a process in the namespace connects to. */
  hostAddress: string;
  nsAddress: string;
  /** Takes the host side of the link down: packets are dropped, nothing is refused (a real partition). */
  cut(): void;
  heal(): void;
  /** Deletes the namespace and the veth pair; idempotent, never throws. */
  destroy(): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why this machine cannot make namespaces (not root, no `ip`, EPERM in a container), or null when it can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)';
  const probe = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (probe.error)
    return `the ip command is missing (${(probe.error as NodeJS.ErrnoException).code}); install iproute2`;
  const name = `hoprobe${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
  const veth = spawnSync('ip', ['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`], {
    encoding: 'utf8',
  });
  spawnSync('ip', ['link', 'del', `${name}a`]);
  spawnSync('ip', ['netns', 'del', name]);
  if (veth.status !== 0) return `ip link add ... type veth failed: ${veth.stderr.trim()}`;
  return null;
}

function usedSubnets(): Set<number> {
  const out = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return new Set([...out.matchAll(/10\.213\.(\d+)\./g)].map((m) => Number(m[1])));
}

export function createNetns(): Netns {
  const id = randomBytes(3).toString('hex');
  const name = `hondpart${id}`;
  // interface names are at most 15 characters
  const hostIf = `hov${id}h`;
  const nsIf = `hov${id}n`;
  const used = usedSubnets();
  let n = Number.parseInt(id.slice(0, 2), 16);
  while (used.has(n)) n = (n + 1) % 256;
  const hostAddress = `10.213.${n}.1`;
  const nsAddress = `10.213.${n}.2`;
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    // deleting the namespace deletes its end of the pair, and with it the host end
    spawnSync('ip', ['netns', 'del', name]);
    spawnSync('ip', ['link', 'del', hostIf]);
  };
  try {
    ip(['netns', 'add', name]);
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', name]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf]);
    ip(['-n', name, 'link', 'set', nsIf, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    destroy();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`could not set up network namespace ${name}: ${stderr || String(err)}`, { cause: err });
  }
  // a test that dies without its finally must not leave the namespace behind
  process.once('exit', destroy);
  return {
    name,
    hostAddress,
    nsAddress,
    cut: () => ip(['link', 'set', hostIf, 'down']),
    heal: () => ip(['link', 'set', hostIf, 'up']),
    destroy: () => {
      process.removeListener('exit', destroy);
      destroy();
    },
  };
}
