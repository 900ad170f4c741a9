import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import type { Policy } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { canonicalJson } from '../payloadHash.ts';

/*
 * The fleet's policy (decision 89): the coordinator publishes policy.json into `fleet_policy`, one
 * row per version, and NOTIFYs; every executor reads the newest row and applies it.
 */

/** The channel every executor LISTENs on for a newly published policy (the payload is its version). */
export const POLICY_CHANNEL = 'handoff_policy';

export interface PublishedPolicy {
  version: number;
  sha256: string;
  /** As published: a parsed policy.json with every default filled in. Readers parse it again. */
  policy: unknown;
  /** `host:$HANDOFF_HOME` of the coordinator that published it (policySource). */
  source: string;
  publishedAt: Date;
}

/** sha256 of the policy's canonical JSON: equal policies hash equally, whatever the file's layout. */
export function policySha256(policy: Policy): string {
  return createHash('sha256').update(canonicalJson(policy)).digest('hex');
}

/**
 * Where a policy.json lives: `host:<real path of $HANDOFF_HOME>`. An executor whose home is the
 * publishing coordinator's reads the very file that was published, so it follows the file itself.
 */
export function policySource(home: string): string {
  let path = home;
  try {
    path = realpathSync(home);
  } catch {
    // a home that does not exist yet cannot be anyone's source; its own spelling will do
  }
  return `${hostname()}:${path}`;
}

/**
 * Publishes `policy` as the next version, unless the newest version already has its hash; then
 * nothing is written. One publisher at a time (the table lock), so versions never collide; the
 * NOTIFY is delivered when the row is committed.
 */
export async function publishPolicy(
  db: Db,
  policy: Policy,
  source: string,
): Promise<{ version: number; sha256: string; published: boolean }> {
  const sha256 = policySha256(policy);
  return db.transaction().execute(async (trx) => {
    await sql`LOCK TABLE fleet_policy IN EXCLUSIVE MODE`.execute(trx);
    const latest = await trx
      .selectFrom('fleet_policy')
      .select(['version', 'sha256'])
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (latest?.sha256 === sha256) return { version: latest.version, sha256, published: false };
    const version = (latest?.version ?? 0) + 1;
    await trx
      .insertInto('fleet_policy')
      .values({ version, sha256, policy: JSON.stringify(policy), source })
      .execute();
    await sql`SELECT pg_notify(${POLICY_CHANNEL}, ${String(version)})`.execute(trx);
    return { version, sha256, published: true };
  });
}

/** The newest published policy, or null when no coordinator has published one yet. */
export async function readPublishedPolicy(db: Db): Promise<PublishedPolicy | null> {
  const row = await db.selectFrom('fleet_policy').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
  if (!row) return null;
  return {
    version: row.version,
    sha256: row.sha256,
    policy: row.policy,
    source: row.source,
    publishedAt: new Date(row.published_at),
  };
}
