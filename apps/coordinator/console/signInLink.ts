import { readFile } from 'node:fs/promises';
import type { ConsoleSignInLink } from '@handoff/contracts';
import { createDb, createPool } from '@handoff/db';
import { findToken } from '../auth.ts';
import { createSessionStore } from './sessions.ts';

/**
 * The one-time sign-in link `handoff start` prints: a code (in the URL's fragment, which browsers
 * never send) that signs its opener in once, within SIGNIN_CODE_TTL_MS, as the operator token in
 * `tokenFile`. Written straight to the database the coordinator uses, so it needs no HTTP round trip
 * (nor trust in the coordinator's certificate under --listen). Over HTTP: POST /console/api/signin-links.
 */
export async function createSignInLink(opts: {
  databaseUrl: string;
  tokenFile: string;
  /** The coordinator's URL as the operator reaches it, e.g. http://127.0.0.1:18800. */
  baseUrl: string;
}): Promise<ConsoleSignInLink> {
  const token = (await readFile(opts.tokenFile, 'utf8')).trim();
  const db = createDb(createPool(opts.databaseUrl, { applicationName: 'handoff-signin-link' }));
  try {
    const found = await findToken(db, token);
    if (!found) throw new Error(`the token in ${opts.tokenFile} is not a live token`);
    const { code, expiresAt } = await createSessionStore(db).createCode(found.id);
    return { url: `${opts.baseUrl.replace(/\/+$/, '')}/console/#code=${code}`, expiresAt: expiresAt.toISOString() };
  } finally {
    await db.destroy();
  }
}
