import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, actorOf } from '@handoff/contracts';
import type { CreatedToken, Role } from '@handoff/contracts';
import { groupRequests, type Db } from '@handoff/db';
import type { Access, Principal } from './types.ts';

/**
 * Bearer tokens: `hnd_` + 32 random bytes in base64url. Only the sha256 hex of a token is stored
 * (`api_tokens.token_hash`); a request is matched by hashing what it sends and looking the hash up
 * through the unique index, so no comparison ever runs over the secret itself.
 */

export const TOKEN_PREFIX = 'hnd_';
const TOKEN_SHAPE = /^hnd_[A-Za-z0-9_-]{43}$/;
export const OPERATOR_TOKEN_FILE = 'operator.token';

/** How often `last_used_at` is written for one token, at most. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The unique index on lower(name) (migrations/003_token_names.sql). */
const NAME_INDEX = 'api_tokens_name_unique';

/** Mints a token. A name another token has (ignoring case) is refused: 409 name_taken. */
export async function createToken(
  db: Db,
  role: Role,
  name: string | null,
  createdBy: string | null,
): Promise<CreatedToken> {
  const token = generateToken();
  let row;
  try {
    row = await db
      .insertInto('api_tokens')
      .values({ id: randomUUID(), name, role, token_hash: hashToken(token), created_by: createdBy })
      .returning(['id', 'role', 'name', 'created_at'])
      .executeTakeFirstOrThrow();
  } catch (err) {
    const pgErr = err as { code?: string; constraint?: string };
    if (pgErr.code === '23505' && pgErr.constraint === NAME_INDEX) {
      throw new ApiError(
        409,
        'name_taken',
        `name: a token named "${name}" already exists (names are unique, ignoring case)`,
        { field: 'name' },
      );
    }
    throw err;
  }
  return { id: row.id, role: row.role, name: row.name, token, createdAt: row.created_at.toISOString() };
}

/** Names tried for the bootstrap operator token: `operator`, then `operator-2`, `operator-3`, ... */
const BOOTSTRAP_NAME_TRIES = 1000;
async function createBootstrapOperatorToken(db: Db): Promise<CreatedToken> {
  for (let n = 1; n <= BOOTSTRAP_NAME_TRIES; n++) {
    try {
      return await createToken(db, 'operator', n === 1 ? 'operator' : `operator-${n}`, 'handoff');
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'name_taken')) throw err;
    }
  }
  // every label taken: the token still works, it is only unnamed
  return createToken(db, 'operator', null, 'handoff');
}

/** The live (not revoked) token behind `token`, or null. */
type FoundToken = { id: string; role: Role; name: string | null; lastUsedAt: Date | null };

export async function findToken(db: Db, token: string): Promise<FoundToken | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const row = await db
    .selectFrom('api_tokens')
    .select(['id', 'role', 'name', 'last_used_at'])
    .where('token_hash', '=', hashToken(token))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ? { id: row.id, role: row.role, name: row.name, lastUsedAt: row.last_used_at } : null;
}

/**
 * Makes sure `${home}/operator.token` holds a live operator token: keeps the file when its token is
 * still valid, otherwise creates a new token and writes the file (mode 0600, replaced atomically).
 */
export async function ensureOperatorToken(
  db: Db,
  home: string,
): Promise<{ token: string; path: string; created: boolean }> {
  const path = join(home, OPERATOR_TOKEN_FILE);
  let existing: string | null = null;
  try {
    existing = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing) {
    const found = await findToken(db, existing);
    if (found && found.role === 'operator') {
      await chmod(path, 0o600);
      return { token: existing, path, created: false };
    }
  }
  await mkdir(home, { recursive: true, mode: 0o700 });
  const created = await createBootstrapOperatorToken(db);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${created.token}\n`, { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return { token: created.token, path, created: true };
}

const ALLOWED: Record<Exclude<Access, 'public'>, readonly Role[]> = {
  viewer: ['viewer', 'agent', 'operator'],
  agent: ['agent', 'operator'],
  operator: ['operator'],
};

function presentedToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header !== '') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ?? '';
  }
  if (request.routeOptions.config.tokenInQuery) {
    const query = request.query as Record<string, unknown> | undefined;
    const fromQuery = query?.['token'];
    if (typeof fromQuery === 'string') return fromQuery;
  }
  return null;
}

/**
 * One onRequest hook for the whole server: it runs before the body is read, so an anonymous caller
 * never gets as far as validation. Unmatched URLs fall through to the 404 handler.
 */
/**
 * `sessionTokenHash`: the console's session cookie (console/sessions.ts), asked only when no bearer
 * token came: the hash of the token the session stands for (it checks CSRF), or null.
 */
export function installAuth(
  app: FastifyInstance,
  sessionTokenHash?: (request: FastifyRequest) => Promise<string | null>,
): void {
  app.decorateRequest('principal', null);
  // Every request checks its token: concurrent checks share one query (no cache, so a revoked
  // token stops working at once).
  const lookUp = groupRequests<string, FoundToken | null>(
    async (hashes) => {
      const rows = await app.db
        .selectFrom('api_tokens')
        .select(['id', 'role', 'name', 'last_used_at', 'token_hash'])
        .where('token_hash', 'in', [...new Set(hashes)])
        .where('revoked_at', 'is', null)
        .execute();
      const byHash = new Map(
        rows.map((r) => [r.token_hash, { id: r.id, role: r.role, name: r.name, lastUsedAt: r.last_used_at }]),
      );
      return hashes.map((h) => byHash.get(h) ?? null);
    },
    { maxConcurrent: 4 },
  );
  const tokenOf = (token: string): Promise<FoundToken | null> =>
    TOKEN_SHAPE.test(token) ? lookUp(hashToken(token)) : Promise.resolve(null);
  app.addHook('onRequest', async (request) => {
    if (request.is404) return;
    const access = request.routeOptions.config.access;
    if (access === undefined) throw new Error(`route ${request.routeOptions.url ?? '?'} declares no access`);
    if (access === 'public') return;
    const token = presentedToken(request);
    const fromSession = token === null && sessionTokenHash ? await sessionTokenHash(request) : null;
    if (token === null && fromSession === null)
      throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer hnd_...)');
    const found = fromSession !== null ? await lookUp(fromSession) : token ? await tokenOf(token) : null;
    if (!found) throw new ApiError(401, 'unauthorized', 'invalid or revoked token');
    // identity is the token's id and role as the database has them; the name is only a label
    const principal: Principal = {
      tokenId: found.id,
      role: found.role,
      name: found.name,
      actor: actorOf({ tokenId: found.id, role: found.role }),
    };
    request.principal = principal;
    if (!ALLOWED[access].includes(found.role)) {
      throw new ApiError(403, 'forbidden', `this action needs the ${access} role; the token has ${found.role}`);
    }
    if (!found.lastUsedAt || Date.now() - found.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      app.db
        .updateTable('api_tokens')
        .set({ last_used_at: new Date() })
        .where('id', '=', found.id)
        .execute()
        .catch((err: unknown) => request.log.warn({ err }, 'could not record token use'));
    }
  });
}

/** The caller of a route that is not public; the auth hook guarantees it. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new ApiError(401, 'unauthorized', 'missing bearer token');
  return request.principal;
}
