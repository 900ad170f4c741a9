import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { ApiError, actorOf } from '@handoff/contracts';
import type { CreatedToken, Role, TokenInfo } from '@handoff/contracts';
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

/**
 * How often `last_used_at` is written for one token, at most (decision 98): the write is off the
 * request's path and skipped while the recorded use is younger than this, so a busy agent costs one
 * UPDATE a minute, not one per request.
 */
const LAST_USED_RESOLUTION_MS = 60_000;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The unique index on lower(name) (migrations/003_token_names.sql). */
const NAME_INDEX = 'api_tokens_name_unique';

/**
 * Mints a token, working for `expiresInSeconds` from now by the database's clock (null: until
 * revoked). A name another token has (ignoring case) is refused: 409 name_taken.
 */
export async function createToken(
  db: Db,
  role: Role,
  name: string | null,
  createdBy: string | null,
  expiresInSeconds: number | null = null,
): Promise<CreatedToken> {
  const token = generateToken();
  let row;
  try {
    row = await db
      .insertInto('api_tokens')
      .values({
        id: randomUUID(),
        name,
        role,
        token_hash: hashToken(token),
        created_by: createdBy,
        expires_at:
          expiresInSeconds === null ? null : sql<Date>`clock_timestamp() + make_interval(secs => ${expiresInSeconds})`,
      })
      .returning(['id', 'role', 'name', 'created_at', 'expires_at'])
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
  return {
    id: row.id,
    role: row.role,
    name: row.name,
    token,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
  };
}

/** A token as GET /v1/tokens shows it: never its secret or hash. */
export const TOKEN_INFO_COLUMNS = [
  'id',
  'role',
  'name',
  'created_at',
  'created_by',
  'last_used_at',
  'revoked_at',
  'expires_at',
] as const;

export function toTokenInfo(r: {
  id: string;
  role: Role;
  name: string | null;
  created_at: Date;
  created_by: string | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  expires_at: Date | null;
}): TokenInfo {
  const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
  return {
    id: r.id,
    role: r.role,
    name: r.name,
    actor: actorOf({ tokenId: r.id, role: r.role }),
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    lastUsedAt: iso(r.last_used_at),
    revokedAt: iso(r.revoked_at),
    expiresAt: iso(r.expires_at),
    state: r.revoked_at ? 'revoked' : r.expires_at && r.expires_at.getTime() <= Date.now() ? 'expired' : 'live',
  };
}

/**
 * Revokes a token: from the next request on it is refused (401), since every request looks its
 * token up (no cache). Revoking a revoked token changes nothing and answers it as it is; `revoked`
 * says whether this call did it. Unknown id: 404.
 */
export async function revokeToken(db: Db, id: string): Promise<{ token: TokenInfo; revoked: boolean }> {
  const updated = await db
    .updateTable('api_tokens')
    .set({ revoked_at: sql<Date>`clock_timestamp()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning(TOKEN_INFO_COLUMNS)
    .executeTakeFirst();
  if (updated) return { token: toTokenInfo(updated), revoked: true };
  const existing = await db.selectFrom('api_tokens').select(TOKEN_INFO_COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!existing) throw new ApiError(404, 'not_found', `no token ${id}`);
  return { token: toTokenInfo(existing), revoked: false };
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

/**
 * The token behind a hash as a request needs it. `refused` says why a token that exists no longer
 * works; expiry is decided by the database's clock, like every other deadline.
 */
type FoundToken = {
  id: string;
  role: Role;
  name: string | null;
  lastUsedAt: Date | null;
  refused: 'revoked' | 'expired' | null;
};

function lookUpTokens(db: Db, hashes: readonly string[]) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'role', 'name', 'last_used_at', 'token_hash', 'revoked_at'])
    .select(sql<boolean>`coalesce(expires_at <= clock_timestamp(), false)`.as('expired'))
    .where('token_hash', 'in', [...new Set(hashes)])
    .execute();
}

function toFound(r: Awaited<ReturnType<typeof lookUpTokens>>[number]): FoundToken {
  return {
    id: r.id,
    role: r.role,
    name: r.name,
    lastUsedAt: r.last_used_at,
    refused: r.revoked_at ? 'revoked' : r.expired ? 'expired' : null,
  };
}

/** The live (neither revoked nor expired) token behind `token`, or null. */
export async function findToken(db: Db, token: string): Promise<FoundToken | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const [row] = await lookUpTokens(db, [hashToken(token)]);
  const found = row ? toFound(row) : null;
  return found && found.refused === null ? found : null;
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
      const rows = await lookUpTokens(app.db, hashes);
      const byHash = new Map(rows.map((r) => [r.token_hash, toFound(r)]));
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
    // saying which only tells the holder of that very token what it already holds
    if (found.refused) throw new ApiError(401, 'unauthorized', `this token was ${found.refused}`);
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
