import { accountHosts, hostListed, isCredentialed } from '@handoff/contracts';
import { PermanentError } from './errors.ts';

/**
 * Credentials go only to the hosts their account names (secrets.json `hosts`, or the account's own
 * server settings: docs/architecture.md decision 26). A call elsewhere is refused before it is
 * made, never sent without them: a receipt then says plainly why nothing happened.
 */
export function assertCredentialHost(
  intent: { channel: string; account: string },
  credentials: Record<string, unknown> | undefined,
  url: URL,
  what: string,
): void {
  if (credentials === undefined || !isCredentialed(credentials)) return;
  if (hostListed(url, accountHosts(intent.channel, credentials))) return;
  throw new PermanentError(
    `${what}: host "${url.host}" is not among the hosts the credentials of ${intent.channel}:${intent.account} may be sent to (secrets.json "hosts"); refused before any request`,
  );
}
