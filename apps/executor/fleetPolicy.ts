import { isIP } from 'node:net';
import pg from 'pg';
import type { Logger } from 'pino';
import { formatIssues, describeZodIssues, hostPortListed, Policy, type ConfigWatcher } from '@handoff/contracts';
import { internalAddressReason } from '@handoff/connectors';
import type { Db } from '@handoff/db';
import {
  POLICY_CHANNEL,
  policySha256,
  policySource,
  readPublishedPolicy,
  type PublishedPolicy,
} from '@handoff/intents';

/**
 * The policy an executor applies (decision 89): the one the coordinator published into Postgres,
 * followed live (LISTEN plus a re-read every few seconds, so a missed notification costs one
 * interval), with this executor's own policy.json allowed only to narrow its webhook hosts.
 *
 * - No policy published yet (no coordinator has started on this database): the local file alone,
 *   as before there was a fleet.
 * - Published from this very `$HANDOFF_HOME` (the single-machine default): the local file is the
 *   published one, read first-hand, so this executor sees a change no later than the coordinator.
 * - Otherwise the published policy, webhook.allowedHosts narrowed by the local file (tighten).
 */
export interface FleetPolicy {
  /** The policy in force here. */
  current(): Policy;
  /** The published version this executor applies (null: its own file, not yet or never published), and the hash of what it applies. */
  applied(): { version: number | null; sha256: string };
  close(): Promise<void>;
}

/** An allowedHosts entry that names nothing (RFC 6761: `.invalid` never resolves): "no host at all". */
export const NO_HOST = 'no-host.invalid';

const REFRESH_MS = 5000;

function splitEntry(entry: string): { host: string; port: string | undefined } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim());
  return m ? { host: m[1]!, port: m[2] } : { host: entry.trim(), port: undefined };
}

/** An entry whose host is a loopback, private or otherwise internal address (or `localhost`). */
function namesInternalAddress(entry: string): boolean {
  const host = splitEntry(entry)
    .host.replace(/^\[(.*)\]$/, '$1')
    .toLowerCase()
    .replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && internalAddressReason(host) !== undefined;
}

/**
 * The hosts both lists allow, compared by name (`host` is any port, `host:port` one port; the
 * narrower entry is kept). An empty fleet list allows every public host and no internal one, so a
 * local entry naming an internal address is dropped. A local list that keeps nothing allows
 * nothing: NO_HOST, never the empty list (which would allow every public host again).
 */
export function intersectHosts(fleet: readonly string[], local: readonly string[]): string[] {
  if (local.length === 0) return [...fleet];
  const kept = new Set<string>();
  for (const entry of local) {
    if (fleet.length === 0) {
      if (!namesInternalAddress(entry)) kept.add(entry);
      continue;
    }
    const { host, port } = splitEntry(entry);
    if (port !== undefined) {
      if (hostPortListed(host, port, fleet)) kept.add(entry);
    } else if (hostPortListed(host, '', fleet)) {
      kept.add(entry);
    } else {
      // the fleet names this host on some ports only: those ports
      for (const f of fleet) if (hostPortListed(splitEntry(f).host, '', [entry])) kept.add(f);
    }
  }
  return kept.size > 0 ? [...kept] : [NO_HOST];
}

/** The fleet's policy with this executor's own narrowing: its webhook host list, and nothing else. */
export function tighten(fleet: Policy, local: Policy): Policy {
  return {
    ...fleet,
    webhook: { ...fleet.webhook, allowedHosts: intersectHosts(fleet.webhook.allowedHosts, local.webhook.allowedHosts) },
  };
}

/** What a local file sets beyond its host list, which the fleet's policy overrides. */
function overridden(fleet: Policy, local: Policy): boolean {
  const rest = (p: Policy): Policy => ({ ...p, webhook: { ...p.webhook, allowedHosts: [] } });
  return policySha256(rest(fleet)) !== policySha256(rest(local));
}

interface Applied {
  policy: Policy;
  version: number | null;
  sha256: string;
}

/**
 * Reads the published policy and follows it. Throws (so the executor does not start) when the
 * published policy is not one this executor's schema accepts: a newer coordinator's policy.
 */
export async function followFleetPolicy(args: {
  home: string;
  databaseUrl: string;
  db: Db;
  /** This executor's own policy.json (loadPolicy). */
  local: ConfigWatcher<Policy>;
  log: Logger;
  /** Told when the policy in force changes (version or content). */
  onChange?: () => void;
}): Promise<FleetPolicy> {
  const { db, local, log } = args;
  const ownSource = policySource(args.home);
  let published: { row: PublishedPolicy; policy: Policy } | null = null;
  let localSeen: Policy | null = null;
  let applied: Applied | null = null;
  let warnedFor: string | null = null;
  let refusedVersion: number | null = null;

  const parse = (row: PublishedPolicy): Policy => {
    const parsed = Policy.safeParse(row.policy);
    if (parsed.success) return parsed.data;
    throw new Error(
      `the fleet policy v${row.version} in the database is not one this executor understands ` +
        `(${formatIssues(describeZodIssues(parsed.error))}); upgrade handoff on this node`,
    );
  };

  const compute = (): Applied => {
    const mine = local.current();
    if (!published) return { policy: mine, version: null, sha256: policySha256(mine) };
    const { row, policy } = published;
    if (row.source === ownSource) {
      const sha256 = policySha256(mine);
      return { policy: mine, version: sha256 === row.sha256 ? row.version : null, sha256 };
    }
    const key = `${row.version}:${policySha256(mine)}`;
    if (warnedFor !== key && overridden(policy, mine)) {
      warnedFor = key;
      log.warn(
        { policyVersion: row.version },
        `this executor's policy.json differs from the fleet policy v${row.version}: the fleet's applies; ` +
          'locally only webhook.allowedHosts narrows it',
      );
    }
    return { policy: tighten(policy, mine), version: row.version, sha256: row.sha256 };
  };

  /** The policy in force, recomputed when the local file or the published row has changed. */
  const inForce = (): Applied => {
    const mine = local.current();
    if (!applied || mine !== localSeen) {
      const before = applied;
      localSeen = mine;
      applied = compute();
      if (before && before.sha256 !== applied.sha256) args.onChange?.();
    }
    return applied;
  };

  const take = (row: PublishedPolicy | null): void => {
    if (!row || (published && row.version === published.row.version)) return;
    published = { row, policy: parse(row) };
    applied = null;
    const now = inForce();
    log.info(
      { policyVersion: row.version, sha256: row.sha256, applies: now.version === null ? 'local file' : 'fleet policy' },
      `fleet policy v${row.version} published`,
    );
    args.onChange?.();
  };

  take(await readPublishedPolicy(db));
  inForce();

  let stopped = false;
  const refresh = async (): Promise<void> => {
    if (stopped) return;
    let row: PublishedPolicy | null;
    try {
      row = await readPublishedPolicy(db);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'fleet policy refresh failed; the last good policy stays');
      return;
    }
    try {
      take(row);
    } catch (err) {
      // a policy this executor cannot parse: keep the last good one, and say so once per version
      if (row && refusedVersion !== row.version) {
        refusedVersion = row.version;
        log.error(`${(err as Error).message}; the last good policy stays`);
      }
    }
  };
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  timer.unref();

  // LISTEN on a connection of its own, reconnecting; the timer above covers the gaps
  let client: pg.Client | null = null;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: args.databaseUrl, application_name: 'handoff-policy' });
    const drop = (): void => {
      if (client !== c) return;
      client = null;
      c.end().catch(() => undefined);
      reconnectSoon();
    };
    c.on('error', (err) => {
      log.debug({ err: err.message }, 'fleet policy listener connection error');
      drop();
    });
    c.on('end', drop);
    c.on('notification', () => void refresh());
    try {
      await c.connect();
      await c.query(`LISTEN ${POLICY_CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (stopped) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    await refresh();
  };
  const reconnectSoon = (): void => {
    if (stopped) return;
    const t = setTimeout(() => {
      connect().catch((err: unknown) => {
        log.debug({ err: (err as Error).message }, 'fleet policy listener reconnect failed');
        reconnectSoon();
      });
    }, 1000);
    t.unref();
  };
  await connect().catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'fleet policy listener could not connect; retrying');
    reconnectSoon();
  });

  return {
    current: () => inForce().policy,
    applied: () => {
      const { version, sha256 } = inForce();
      return { version, sha256 };
    },
    close: async () => {
      stopped = true;
      clearInterval(timer);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
