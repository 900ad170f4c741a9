import { X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import type { CreatedNode, NodeView } from './contracts.ts';
import { encodeJoin, joinCommand } from './joinString.ts';
import { newPassword, scramVerifier } from './scram.ts';

/*
 * The owner's side of nodes: registering one (its row in `nodes` and its LOGIN role, member of
 * `handoff_node`, whose rights migrations/005_node_roles.sql grants), listing them with what their
 * executor last reported, and removing one (role dropped, sessions ended).
 */

export const NODE_GROUP = 'handoff_node';

/** A node's Postgres role: one per node, named for it. */
export function roleNameOf(id: string): string {
  return `handoff_node_${id}`;
}

export class NodeExists extends Error {
  constructor(id: string) {
    super(`a node named ${id} is already registered; remove it first or pick another id`);
    this.name = 'NodeExists';
  }
}

export class NodeNotFound extends Error {
  constructor(id: string) {
    super(`no node named ${id}`);
    this.name = 'NodeNotFound';
  }
}

/** The database cannot hold node roles: the group is missing or the owner may not create roles. */
export class NodesUnavailable extends Error {
  constructor(why: string) {
    super(
      `${why}. As a superuser run: CREATE ROLE ${NODE_GROUP} NOLOGIN; GRANT ${NODE_GROUP} TO <the coordinator's user> ` +
        `WITH ADMIN OPTION; ALTER ROLE <the coordinator's user> CREATEROLE; then try again`,
    );
    this.name = 'NodesUnavailable';
  }
}

/** SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint -sha256` shows it. */
export function caFingerprint(pem: string | null): string | null {
  return pem ? new X509Certificate(pem).fingerprint256 : null;
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Registers node `id` for `accounts`: its row, its LOGIN role (a generated password, sent as a
 * SCRAM verifier), membership of the group, and the group's grants renewed (pg-boss's schema may
 * be newer than the migration). Answers the one join command, which carries the password: it is
 * shown once and stored nowhere here.
 */
export async function addNode(
  db: Db,
  args: { id: string; accounts: string[]; host?: string | undefined; actor: string; ca: string | null },
): Promise<CreatedNode> {
  const role = roleNameOf(args.id);
  const password = newPassword();
  const where = await db.transaction().execute(async (trx) => {
    const group = await sql<{ ok: boolean }>`SELECT handoff_grant_node_group() AS ok`.execute(trx);
    if (!group.rows[0]?.ok) throw new NodesUnavailable(`the group role ${NODE_GROUP} does not exist on this server`);
    const taken = await sql`SELECT 1 FROM nodes WHERE id = ${args.id}`.execute(trx);
    if (taken.rows.length > 0) throw new NodeExists(args.id);
    const exists = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${role}`.execute(trx);
    if (exists.rows.length > 0) throw new NodeExists(args.id);
    const info = await sql<{ db: string; addr: string | null; port: number | null; version: number }>`
      SELECT current_database() AS db, host(inet_server_addr()) AS addr, inet_server_port() AS port,
        current_setting('server_version_num')::int AS version`.execute(trx);
    const server = info.rows[0]!;
    const ident = sql.id(role);
    try {
      // the verifier is base64 and `$:`: nothing in it needs quoting
      await sql`CREATE ROLE ${ident} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
        CONNECTION LIMIT 64 PASSWORD ${sql.lit(scramVerifier(password))}`.execute(trx);
      // Postgres 16+: the group's rights are inherited, but SET ROLE to it is refused too
      if (server.version >= 160000)
        await sql`GRANT ${sql.id(NODE_GROUP)} TO ${ident} WITH INHERIT TRUE, SET FALSE`.execute(trx);
      else await sql`GRANT ${sql.id(NODE_GROUP)} TO ${ident}`.execute(trx);
    } catch (err) {
      if ((err as { code?: string }).code === '42501')
        throw new NodesUnavailable(`the coordinator's database user may not create roles (${(err as Error).message})`);
      throw err;
    }
    await sql`INSERT INTO nodes (id, role_name, accounts, created_by)
      VALUES (${args.id}, ${role}, ${args.accounts}::text[], ${args.actor})`.execute(trx);
    return server;
  });
  // an address that means "every interface" (0.0.0.0, ::) names no host a node could reach
  const listen = process.env.HANDOFF_LISTEN?.trim();
  const named = listen && !['0.0.0.0', '::', '[::]'].includes(listen) ? listen : undefined;
  const host = args.host ?? named ?? where.addr ?? '127.0.0.1';
  const url = new URL(`postgres://${urlHost(host)}:${where.port ?? 5432}/${encodeURIComponent(where.db)}`);
  url.username = role;
  url.password = password;
  if (args.ca) url.searchParams.set('sslmode', 'require');
  const databaseUrl = url.toString();
  const join = encodeJoin({ v: 1, id: args.id, databaseUrl, accounts: args.accounts, ca: args.ca });
  return { id: args.id, join: joinCommand(join), databaseUrl, caFingerprint: caFingerprint(args.ca) };
}

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/**
 * Every node with what its executor (executor id = node id) last reported. `handoff_version` and
 * `policy_version` are read from the row as JSON: they are columns of a later migration (006).
 */
export async function listNodes(db: Db): Promise<NodeView[]> {
  const rows = await sql<{
    id: string;
    accounts: string[];
    created_at: Date;
    executor: Record<string, unknown> | null;
  }>`
    SELECT n.id, n.accounts, n.created_at, to_jsonb(e) AS executor
    FROM nodes n
    LEFT JOIN LATERAL (SELECT * FROM executors x WHERE x.id = n.id ORDER BY x.heartbeat_at DESC LIMIT 1) e ON true
    ORDER BY n.id`.execute(db);
  return rows.rows.map((r) => {
    const e = r.executor;
    const inFlight = e?.['in_flight'];
    return {
      id: r.id,
      accounts: r.accounts,
      createdAt: r.created_at.toISOString(),
      lastHeartbeat: e ? new Date(String(e['heartbeat_at'])).toISOString() : null,
      status: text(e?.['status']),
      version: text(e?.['handoff_version']),
      policyVersion: text(e?.['policy_version']),
      inFlight: typeof inFlight === 'number' ? inFlight : null,
    };
  });
}

/**
 * Removes node `id`: its role may no longer log in, its sessions are ended, then the role and its
 * row are dropped. Its leases are left to expire: the sweeper re-tickets them and the next holder
 * reconciles, as after any executor's death.
 */
export async function removeNode(db: Db, id: string): Promise<{ id: string; terminated: number }> {
  const found = await sql<{ role_name: string }>`SELECT role_name FROM nodes WHERE id = ${id}`.execute(db);
  const role = found.rows[0]?.role_name;
  if (!role) throw new NodeNotFound(id);
  const ident = sql.id(role);
  const roleExists = async (): Promise<boolean> =>
    (await sql`SELECT 1 FROM pg_roles WHERE rolname = ${role}`.execute(db)).rows.length > 0;
  if (await roleExists()) await sql`ALTER ROLE ${ident} NOLOGIN`.execute(db);
  // in the select list, so it runs for the node's sessions only (a WHERE may evaluate it for every row)
  const ended = await sql<{ ended: boolean }>`
    SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE usename = ${role}`.execute(db);
  await db.transaction().execute(async (trx) => {
    await sql`DELETE FROM nodes WHERE id = ${id}`.execute(trx);
    // its heartbeat row too: live and doctor stop reporting a node that is gone
    await sql`DELETE FROM executors WHERE id = ${id}`.execute(trx);
    await sql`DROP ROLE IF EXISTS ${ident}`.execute(trx);
  });
  return { id, terminated: ended.rows.filter((r) => r.ended).length };
}
