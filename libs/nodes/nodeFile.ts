import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { JoinInfo } from './contracts.ts';
import { decodeJoin } from './joinString.ts';

/*
 * $HANDOFF_HOME/node.json: what `handoff executor --join` stored, so later starts need only
 * `handoff executor`. It holds the node's database password: 0600, like secrets.json.
 */

export const NODE_FILE = 'node.json';
const CA_FILE = 'node-ca.pem';

export function nodeFilePath(home: string): string {
  return join(home, NODE_FILE);
}

/** Stores a join string's contents in node.json (and the CA beside it); answers what was stored. */
export function storeJoin(home: string, join: string): JoinInfo {
  const info = decodeJoin(join);
  if (info.ca) writeFileSync(joinPath(home, CA_FILE), info.ca, { mode: 0o644 });
  const path = nodeFilePath(home);
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return info;
}

function joinPath(home: string, file: string): string {
  return join(home, file);
}

/** node.json cannot be used as it is: the sentence says what to do. */
export class InvalidNodeFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNodeFile';
  }
}

/** node.json, or null when this home never joined; refuses a file anyone else may read. */
export function readNodeFile(home: string): JoinInfo | null {
  const path = nodeFilePath(home);
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new InvalidNodeFile(`${path} is not JSON: run \`handoff executor --join '<join string>'\` again`);
  }
  const result = JoinInfo.safeParse(parsed);
  if (!result.success)
    throw new InvalidNodeFile(`${path} is not what \`handoff executor --join\` writes: run it again`);
  return result.data;
}

/**
 * The connection string a node's executor uses: node.json's, with TLS verified against the CA
 * the join carried (written beside node.json) when there is one.
 */
export function nodeDatabaseUrl(home: string, info: JoinInfo): string {
  if (!info.ca) return info.databaseUrl;
  const url = new URL(info.databaseUrl);
  url.searchParams.set('sslmode', 'verify-full');
  url.searchParams.set('sslrootcert', joinPath(home, CA_FILE));
  return url.toString();
}

/** The channels of a node's accounts (`x:@acme` -> `x`): what its executor serves. */
export function channelsOf(accounts: string[]): string[] {
  return [...new Set(accounts.map((a) => a.slice(0, a.indexOf(':'))))];
}

/** What a joined node's executor runs with. */
export interface JoinedNode {
  id: string;
  databaseUrl: string;
  channels: string[];
}

/**
 * The node this home runs as: `join` stored first when given (`handoff executor --join`), else
 * node.json from an earlier join; null when this home never joined (the single-machine default).
 */
export function joinedNode(home: string, join?: string): JoinedNode | null {
  const info = join !== undefined ? storeJoin(home, join) : readNodeFile(home);
  if (!info) return null;
  return { id: info.id, databaseUrl: nodeDatabaseUrl(home, info), channels: channelsOf(info.accounts) };
}
