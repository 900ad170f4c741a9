import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError, CliError } from './errors.ts';
import type { HttpOptions } from './http.ts';

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

/** `HANDOFF_URL` (else the URL `handoff login` stored) without a trailing slash; a malformed URL is a usage error. */
export function coordinatorUrl(env: Env = process.env): string {
  const raw = env.HANDOFF_URL?.trim() || loginFor(env)?.url || DEFAULT_URL;
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

/** `HANDOFF_TOKEN`, else the token `handoff login` stored, else the contents of `$HANDOFF_HOME/operator.token`, else none. */
export function apiToken(env: Env = process.env): string | undefined {
  const fromEnv = env.HANDOFF_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const login = loginFor(env);
  if (login) return login.token;
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

/** What a command's client needs: the coordinator's URL, the token, and the CA to trust for https. */
export function clientOptions(env: Env = process.env): HttpOptions {
  return { baseUrl: coordinatorUrl(env), token: apiToken(env), ca: coordinatorCa(env) };
}

// --- handoff login: $HANDOFF_HOME/cli.json ----------------------------------------------------

export const CLI_CONFIG_FILE = 'cli.json';
/** The CA `handoff login` pinned, as a file (the MCP helper and other tools take a CA file: HANDOFF_CA). */
export const LOGIN_CA_FILE = 'cli-ca.pem';

/** `$HANDOFF_HOME/cli.json`, written by `handoff login` (0600: it holds a token). */
export const CliConfig = z.object({
  url: z.url(),
  token: z.string().min(1),
  /** The pinned CA's PEM file (`$HANDOFF_HOME/cli-ca.pem`); absent for an http:// or publicly trusted URL. */
  ca: z.string().min(1).optional(),
  /** Its SHA-256 fingerprint: a CA file that no longer matches is refused, not trusted. */
  caFingerprint: z.string().optional(),
});
export type CliConfig = z.infer<typeof CliConfig>;

export function cliConfigPath(env: Env = process.env): string {
  return join(handoffHome(env), CLI_CONFIG_FILE);
}

export function readCliConfig(env: Env = process.env): CliConfig | undefined {
  const path = cliConfigPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CliError(`cannot read ${path} (${code ?? 'unknown error'}); run handoff login again`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not JSON; run handoff login again`);
  }
  const config = CliConfig.safeParse(parsed);
  if (!config.success) throw new CliError(`${path} is malformed; run handoff login again`);
  return config.data;
}

/** Written then renamed, 0600 before the rename: the token is never readable by others, even for a moment. */
export function writeCliConfig(config: CliConfig, caPem: string | undefined, env: Env = process.env): string {
  const home = handoffHome(env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = cliConfigPath(env);
  const write = (file: string, text: string, mode: number): void => {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  };
  if (caPem !== undefined) write(join(home, LOGIN_CA_FILE), caPem, 0o644);
  write(path, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  return path;
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).toString().replace(/\/+$/, '') === new URL(b).toString().replace(/\/+$/, '');
  } catch {
    return false;
  }
}

/** The stored login, when there is one and HANDOFF_URL (if set) names the same coordinator. */
function loginFor(env: Env): CliConfig | undefined {
  const login = readCliConfig(env);
  if (!login) return undefined;
  const url = env.HANDOFF_URL?.trim();
  return url && !sameUrl(url, login.url) ? undefined : login;
}

function sha256Fingerprint(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
}

/**
 * The PEM file of the CA to trust for an https coordinator: HANDOFF_CA, else the one `handoff login`
 * pinned (checked against its fingerprint), else none (the system's CAs).
 */
export function coordinatorCaFile(env: Env = process.env): string | undefined {
  const fromEnv = env.HANDOFF_CA?.trim();
  if (fromEnv) return resolve(fromEnv);
  return loginFor(env)?.ca;
}

/** The PEM text of coordinatorCaFile; a missing or unreadable file, or a pinned one that changed, is an error. */
export function coordinatorCa(env: Env = process.env): string | undefined {
  const file = coordinatorCaFile(env);
  if (file === undefined) return undefined;
  const source = env.HANDOFF_CA?.trim() ? 'HANDOFF_CA' : cliConfigPath(env);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read the CA file ${file} named by ${source} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const actual = sha256Fingerprint(pem);
  if (actual === undefined) throw new CliError(`${file} (named by ${source}) holds no PEM certificate`);
  const pinned = env.HANDOFF_CA?.trim() ? undefined : loginFor(env)?.caFingerprint;
  if (pinned !== undefined && pinned !== actual) {
    throw new CliError(
      `the CA in ${file} is not the one handoff login pinned (fingerprint ${actual}, pinned ${pinned}); run handoff login again`,
    );
  }
  return pem;
}

// --- --listen ------------------------------------------------------------------------------

/** A host name as RFC 1123 has it (letters, digits, hyphens, dots). */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `--listen` wins over `HANDOFF_LISTEN`; undefined when neither is set (127.0.0.1, plain HTTP). */
export function listenAddress(flag: string | undefined, env: Env = process.env): string | undefined {
  const source = flag !== undefined ? '--listen' : 'HANDOFF_LISTEN';
  const raw = (flag ?? env.HANDOFF_LISTEN)?.trim();
  if (raw === undefined || raw === '') return undefined;
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 0 && !HOST_NAME.test(bare)) {
    throw new UsageError(`${source}: must be an IP address or a host name (no port: use --port), got "${raw}"`);
  }
  return bare;
}

/**
 * Certificate files the operator names for --listen (HANDOFF_TLS_CERT and HANDOFF_TLS_KEY, with
 * HANDOFF_TLS_CA optional); undefined: handoff makes its own in $HANDOFF_HOME/tls.
 */
export function operatorTlsFiles(env: Env = process.env): { cert: string; key: string; ca?: string } | undefined {
  const cert = env.HANDOFF_TLS_CERT?.trim();
  const key = env.HANDOFF_TLS_KEY?.trim();
  const ca = env.HANDOFF_TLS_CA?.trim();
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key) throw new UsageError('HANDOFF_TLS_CERT and HANDOFF_TLS_KEY go together: set both, or neither');
  return { cert: resolve(cert), key: resolve(key), ...(ca ? { ca: resolve(ca) } : {}) };
}
