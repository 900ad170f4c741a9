import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, the format of
 * pg_authid.rolpassword). Sent instead of the password in CREATE ROLE, so the password itself never
 * reaches the server's statement log. The password is ASCII (base64url), so SASLprep is the identity.
 */
export function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** 32 random bytes, URL-safe: a node's database password. */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}
