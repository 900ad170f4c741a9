import { createRedactor, credentialValues } from '@handoff/contracts';
import type { ConnectorContext } from './connector.ts';

/**
 * The redaction a connector applies to whatever a provider returns, before clipping it: this
 * account's credentials (and `extra`, e.g. a refreshed token or a Basic value) in every encoding,
 * then everything else the executor holds (ctx.redact). One home: @handoff/contracts redaction.ts.
 */
export function redactorFor(
  ctx: Pick<ConnectorContext, 'credentials' | 'redact'>,
  extra: Array<string | undefined> = [],
): (text: string) => string {
  const own = createRedactor([...credentialValues(ctx.credentials), ...extra]);
  const all = ctx.redact;
  return all ? (text) => all(own(text)) : own;
}
