/**
 * The one rule for an executor whose database credentials Postgres refuses at login (decision 141).
 * An outage (connection refused, a timeout, 57P01 admin shutdown, 53300 too many connections)
 * passes and is waited out; a refusal of the role itself does not: `handoff node remove` dropped
 * it, or its password changed. Retrying for ever would only log an outage that is not one, so the
 * executor stops as on shutdown and its process exits with EXIT_CREDENTIALS_REFUSED.
 */

/** SQLSTATEs of a login Postgres will refuse again, however often it is asked. */
const REFUSALS = new Set([
  '28P01', // invalid_password: also what a role that no longer exists gets under password auth
  '28000', // invalid_authorization_specification: no such role, NOLOGIN, or no pg_hba.conf entry
]);

/** EX_CONFIG (sysexits.h): a restart cannot help, so a service manager should not restart it. */
export const EXIT_CREDENTIALS_REFUSED = 78;

export class CredentialsRefused extends Error {
  readonly code: string;
  readonly exitCode = EXIT_CREDENTIALS_REFUSED;
  constructor(code: string, asNode: boolean) {
    super(
      asNode
        ? `this node's database role was refused (${code}): it was removed with \`handoff node remove\` or its password changed; run \`handoff executor --join\` with a new join string`
        : `this executor's database role was refused (${code}): its password changed or it may no longer log in; correct DATABASE_URL and start it again`,
    );
    this.name = 'CredentialsRefused';
    this.code = code;
  }
}

/** The refusal an error carries (pg's own, or one wrapped by pg-boss or a pool), or null for anything else. */
export function credentialsRefusal(err: unknown, asNode: boolean): CredentialsRefused | null {
  if (err instanceof CredentialsRefused) return err;
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 5; depth += 1) {
    const candidate = current as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof candidate.code === 'string' && REFUSALS.has(candidate.code))
      return new CredentialsRefused(candidate.code, asNode);
    current = candidate.cause ?? (Array.isArray(candidate.errors) ? candidate.errors[0] : undefined);
  }
  return null;
}

/**
 * Watches the errors a running executor meets for a refusal; the first one calls `onRefused` once.
 * `notice` answers whether the error was a refusal, so the caller can leave out its own warning.
 */
export function watchForRefusal(
  asNode: boolean,
  onRefused: (refusal: CredentialsRefused) => void,
): { notice(err: unknown): boolean } {
  let seen = false;
  return {
    notice: (err) => {
      const refusal = credentialsRefusal(err, asNode);
      if (!refusal) return false;
      if (!seen) {
        seen = true;
        onRefused(refusal);
      }
      return true;
    },
  };
}
