import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError, CliError } from './errors.ts';

/** Where the CLI reads its settings from: the environment, then `$HANDOFF_HOME`. */

export const DEFAULT_URL = 'http://127.0.0.1:18800';
export const DEFAULT_PORT = 18800;

type Env = Record<string, string | undefined>;

export function handoffHome(env: Env = process.env): string {
  const raw = env.HANDOFF_HOME?.trim();
  if (!raw) return join(homedir(), '.handoff');
  if (raw === '~') return homedir();
  if (raw.startsWith('~/')) return join(homedir(), raw.slice(2));
  return resolve(raw);
}

export function operatorTokenPath(env: Env = process.env): string {
  return join(handoffHome(env), 'operator.token');
}

/** `HANDOFF_URL` without a trailing slash; a malformed URL is a usage error. */
export function coordinatorUrl(env: Env = process.env): string {
  const raw = env.HANDOFF_URL?.trim() || DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`HANDOFF_URL: not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`HANDOFF_URL: must start with http:// or https://, got ${raw}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** `HANDOFF_TOKEN`, else the contents of `$HANDOFF_HOME/operator.token`, else none. */
export function apiToken(env: Env = process.env): string | undefined {
  const fromEnv = env.HANDOFF_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const path = operatorTokenPath(env);
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token || undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CliError(`cannot read the token file ${path} (${code ?? 'unknown error'}). Set HANDOFF_TOKEN instead.`);
  }
}

export function parsePort(raw: string, source: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${source}: must be a port number from 0 to 65535, got "${raw}"`);
  }
  return port;
}

/** `--port` wins over `HANDOFF_PORT`, which wins over 18800. */
export function coordinatorPort(flag: number | undefined, env: Env = process.env): number {
  if (flag !== undefined) return flag;
  const raw = env.HANDOFF_PORT?.trim();
  return raw ? parsePort(raw, 'HANDOFF_PORT') : DEFAULT_PORT;
}

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db`. */
export function maskDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
  }
}
