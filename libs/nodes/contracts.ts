import { z } from 'zod';

/*
 * The wire shapes of /v1/nodes and of a join string. A node id names a machine in `handoff node
 * list` and becomes part of its Postgres role's name, so it is short and plain.
 */

export const NodeId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1-40 of a-z, 0-9, "_" or "-", starting with a letter or digit');
export type NodeId = z.infer<typeof NodeId>;

/** `channel:account` or `channel:*` (every account of the channel). */
export const NodeAccount = z
  .string()
  .max(200)
  .regex(/^[a-z][a-z0-9_-]{0,31}:[^\s:,]+$/, 'must be "channel:account" or "channel:*"');

export const CreateNodeBody = z.strictObject({
  id: NodeId,
  accounts: z.array(NodeAccount).min(1).max(100),
  /** The address the node reaches this Postgres at (default: HANDOFF_LISTEN, else the server's own). */
  host: z.string().min(1).max(253).optional(),
});
export type CreateNodeBody = z.infer<typeof CreateNodeBody>;

export const CreatedNode = z.strictObject({
  id: NodeId,
  /** The one command to run on the node. */
  join: z.string(),
  databaseUrl: z.string(),
  caFingerprint: z.string().nullable(),
});
export type CreatedNode = z.infer<typeof CreatedNode>;

export const NodeView = z.strictObject({
  id: NodeId,
  accounts: z.array(z.string()),
  createdAt: z.string(),
  lastHeartbeat: z.string().nullable(),
  status: z.string().nullable(),
  version: z.string().nullable(),
  policyVersion: z.string().nullable(),
  inFlight: z.number().int().nullable(),
});
export type NodeView = z.infer<typeof NodeView>;

export const NodeList = z.strictObject({ nodes: z.array(NodeView) });
export type NodeList = z.infer<typeof NodeList>;

export const NodeParams = z.strictObject({ id: NodeId });

/** What a join string carries (base64url JSON), and what node.json keeps. */
export const JoinInfo = z.strictObject({
  v: z.literal(1),
  id: NodeId,
  databaseUrl: z.string().startsWith('postgres'),
  accounts: z.array(NodeAccount),
  /** The coordinator's CA (PEM) when it listens with TLS; the node trusts only it. */
  ca: z.string().nullable(),
});
export type JoinInfo = z.infer<typeof JoinInfo>;
