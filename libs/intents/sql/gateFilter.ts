import { sql, type RawBuilder } from 'kysely';
import { scopesCovering } from '@handoff/contracts';

// placeholders for the columns: no scope scopesCovering writes holds braces of its own
const CHANNEL = '{channel}';
const ACCOUNT = '{account}';

/**
 * scopesCovering for the intent aliased `alias`, as an SQL list (`'global', i.channel, i.channel ||
 * ':' || i.account`). Written from the contract's function, called with placeholders for the two
 * columns, so the SQL and the executor's listener cannot drift apart.
 */
export function scopesCoveringSql(alias: string): RawBuilder<unknown> {
  const a = sql.ref(alias);
  return sql.join(
    scopesCovering(CHANNEL, ACCOUNT).map((scope) =>
      sql.join(
        scope
          .split(/(\{channel\}|\{account\})/)
          .filter((part) => part !== '')
          .map((part) => (part === CHANNEL ? sql`${a}.channel` : part === ACCOUNT ? sql`${a}.account` : sql.lit(part))),
        sql` || `,
      ),
    ),
  );
}

/** True when no closed gate covers the intent aliased `alias` (see scopesCovering). */
export function noClosedGateCovers(alias: string): RawBuilder<boolean> {
  return sql<boolean>`NOT EXISTS (
    SELECT 1 FROM gates g
    WHERE NOT g.enabled AND g.scope IN (${scopesCoveringSql(alias)}))`;
}
