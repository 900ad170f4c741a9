import type { Db } from '@handoff/db';
import type { IntentService } from '@handoff/intents';
import type { Role } from '@handoff/contracts';

/**
 * Who may call a route. Every route declares one in `config.access`; server.ts refuses to start
 * when a route forgets it, so no route is public by omission.
 *
 * - `public`: no token (only /healthz, and /metrics on a loopback bind)
 * - `viewer`: any valid token (viewer, agent, operator)
 * - `agent`: agent or operator
 * - `operator`: operator only
 */
export type Access = 'public' | 'viewer' | 'agent' | 'operator';

/** The caller behind a valid bearer token. */
export interface Principal {
  tokenId: string;
  role: Role;
  name: string | null;
  /** What audit rows and intents record as the actor: `<role>:<token id>` (actorOf); never the name. */
  actor: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
    intents: IntentService;
    handoffHome: string;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** Treat an empty body sent as application/json like no body (approve, retry). */
    allowEmptyBody?: boolean;
  }
}
