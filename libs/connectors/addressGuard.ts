import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { hostPortListed } from '@handoff/contracts';

/**
 * No SSRF by default: calls whose URL an intent names (webhook, deploy) may not reach loopback,
 * private, CGNAT, link-local, unique-local, unspecified, multicast or reserved addresses, nor any
 * address of this machine (the coordinator, an embedded Postgres) or of a protected endpoint (the
 * executor's Postgres), unless policy `webhook.allowedHosts` names the host or the address.
 *
 * The check runs inside the HTTP client's connect, on the address it is about to connect to: a
 * name that answered a public address before and an internal one now (DNS rebinding) is checked
 * on the answer actually used. Redirects are never followed by these connectors, so a 3xx cannot
 * lead anywhere either.
 */

export const ADDRESS_REFUSED = 'ERR_HANDOFF_ADDRESS_REFUSED';

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  internal.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  internal.addSubnet(net, bits, 'ipv6');
}

/** The IPv4 address an IPv6 form carries: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:(?:0{1,4}:)?|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const groups = expandIpv6(lower);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

function expandIpv6(address: string): number[] | undefined {
  if (isIP(address) !== 6 || address.includes('.')) return undefined;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  if (tail === undefined) return h.length === 8 ? h : undefined;
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

const protectedAddresses = new Set<string>();
/** `address|port` of endpoints that only an allowedHosts entry with that exact port opens. */
const protectedEndpoints = new Map<string, string>();
/** Ports that, on any address of this machine, only an entry with that exact port opens. */
const protectedLocalPorts = new Set<string>();

async function addressesOf(host: string): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return [bare.toLowerCase()];
  const answers = await new Promise<LookupAddress[]>((resolve) =>
    dnsLookup(bare, { all: true }, (err, addrs) => resolve(err ? [] : addrs)),
  );
  return answers.map((a) => a.address.toLowerCase());
}

/**
 * The coordinator's and Postgres's own endpoints: refused even when allowedHosts names their host
 * without a port (a receiver on 127.0.0.1 must not open the coordinator's API or Postgres); only an
 * entry naming `host:port` exactly opens them.
 */
export async function protectEndpoint(
  host: string,
  port: number | string,
  what = 'a protected endpoint',
): Promise<void> {
  for (const address of await addressesOf(host)) protectedEndpoints.set(`${address}|${port}`, what);
}

/** protectEndpoint for a port on every address of this machine (the coordinator's listening port). */
export function protectLocalPort(port: number | string): void {
  protectedLocalPorts.add(String(port));
}

/**
 * Marks a host (name or address) as off limits for intent-named calls: the executor's Postgres.
 * Names are resolved now; every address they answer is refused from then on.
 */
export async function protectHost(host: string): Promise<void> {
  for (const address of await addressesOf(host)) protectedAddresses.add(address);
}

function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) out.add(a.address.toLowerCase().replace(/%.*$/, ''));
  return out;
}

/** Why an address may not be called without an allowedHosts entry, or undefined when it may. */
export function internalAddressReason(address: string): string | undefined {
  const bare = address
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .toLowerCase();
  const family = isIP(bare);
  if (family === 0) return 'is not an IP address';
  const v4 = family === 6 ? embeddedIpv4(bare) : bare;
  if (v4 !== undefined && internal.check(v4, 'ipv4')) return 'is a loopback, private, link-local or reserved address';
  if (family === 6 && internal.check(bare, 'ipv6'))
    return 'is a loopback, unique-local, link-local or reserved address';
  if (protectedAddresses.has(bare) || (v4 !== undefined && protectedAddresses.has(v4)))
    return "is the executor's Postgres";
  const own = ownAddresses();
  if (own.has(bare) || (v4 !== undefined && own.has(v4)))
    return 'is an address of this machine (the coordinator, Postgres)';
  return undefined;
}

export type Resolve = (
  hostname: string,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolve: Resolve = (hostname, callback) => dnsLookup(hostname, { all: true }, callback);

export interface AddressGuard {
  /** policy `webhook.allowedHosts` as it is now: hosts (or addresses) exempt from the check. */
  allowedHosts(): readonly string[];
  /** Name resolution; the system resolver unless a test injects one. */
  resolve?: Resolve;
}

function protectedEndpointReason(address: string, port: string): string | undefined {
  const bare = address
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .toLowerCase();
  const v4 = isIP(bare) === 6 ? embeddedIpv4(bare) : undefined;
  const endpoint =
    protectedEndpoints.get(`${bare}|${port}`) ??
    (v4 !== undefined ? protectedEndpoints.get(`${v4}|${port}`) : undefined);
  if (endpoint) return `is ${endpoint}`;
  if (protectedLocalPorts.has(port)) {
    const loopback = (v4 ?? bare).startsWith('127.') || bare === '::1' || bare === '0.0.0.0' || bare === '::';
    const own = ownAddresses();
    if (loopback || own.has(bare) || (v4 !== undefined && own.has(v4))) return "is the coordinator's own port";
  }
  return undefined;
}

function refusal(host: string, port: string, address: string, reason: string, exact = false): Error {
  const shown = `${host === address ? address : `${host} (${address})`}${exact ? ` port ${port}` : ''}`;
  const names = exact ? `"${host}:${port}"` : `"${host}" or "${host}:${port}"`;
  const err = new Error(
    `${shown} ${reason}; calls to it are refused unless policy webhook.allowedHosts names ${names}`,
  );
  (err as NodeJS.ErrnoException).code = ADDRESS_REFUSED;
  return err;
}

/**
 * The address to connect to for host:port, or an ADDRESS_REFUSED error: resolved once, here, and
 * the connection goes to exactly the address checked. Every answer must pass (a name answering one
 * public and one internal address is refused), so the connection cannot pick the internal one.
 */
export function checkedAddress(
  guard: AddressGuard,
  host: string,
  port: string,
  callback: (err: Error | null, address?: string) => void,
): void {
  const name = host.replace(/^\[(.*)\]$/, '$1');
  const allowed = guard.allowedHosts();
  const named = hostPortListed(name, port, allowed);
  const exactly = allowed.filter((e) => /^(\[[^\]]+\]|[^:]+):\d+$/.test(e.trim()));
  const judge = (addresses: string[]): void => {
    if (addresses.length === 0)
      return callback(Object.assign(new Error(`${name} resolved to no address`), { code: 'ENOTFOUND' }));
    for (const address of addresses) {
      const own = protectedEndpointReason(address, port);
      if (own && !hostPortListed(name, port, exactly) && !hostPortListed(address, port, exactly)) {
        return callback(refusal(name, port, address, own, true));
      }
    }
    for (const address of named ? [] : addresses) {
      if (hostPortListed(address, port, allowed)) continue;
      const reason = internalAddressReason(address);
      if (reason) return callback(refusal(name, port, address, reason));
    }
    callback(null, addresses[0]);
  };
  if (isIP(name)) return judge([name]);
  (guard.resolve ?? systemResolve)(name, (err, answers) => {
    if (err) return callback(err);
    judge(answers.map((a) => a.address));
  });
}

/**
 * What an executor protects at start: its Postgres (the host, and its port even when the host is
 * named), and the coordinator's port on this machine ($HANDOFF_PORT, else 18800) and at
 * $HANDOFF_URL when set.
 */
export async function protectOwnEndpoints(databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const parse = (u: string | undefined): URL | undefined => {
    try {
      return u ? new URL(u) : undefined;
    } catch {
      return undefined;
    }
  };
  const pg = parse(databaseUrl);
  if (pg?.hostname)
    await Promise.all([
      protectHost(pg.hostname),
      protectEndpoint(pg.hostname, pg.port || '5432', "the executor's Postgres"),
    ]);
  protectLocalPort(env.HANDOFF_PORT?.trim() || '18800');
  const coordinator = parse(env.HANDOFF_URL?.trim());
  if (coordinator?.hostname)
    await protectEndpoint(
      coordinator.hostname,
      coordinator.port || (coordinator.protocol === 'https:' ? '443' : '80'),
      "the coordinator's own port",
    );
}
