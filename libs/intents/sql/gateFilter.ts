import { sql, type RawBuilder } from 'kysely';

/** True when no closed gate covers the intent aliased `alias`: global, its channel, or its channel:account. */
export function noClosedGateCovers(alias: string): RawBuilder<boolean> {
  const a = sql.ref(alias);
  return sql<boolean>`NOT EXISTS (
    SELECT 1 FROM gates g
    WHERE NOT g.enabled AND g.scope IN ('global', ${a}.channel, ${a}.channel || ':' || ${a}.account))`;
}
