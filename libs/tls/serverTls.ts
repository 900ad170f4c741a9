import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { coversHosts, createAuthority, createServerCertificate } from './authority.ts';
import type { CertifiedKey } from './authority.ts';
import { fingerprint } from './fingerprint.ts';

/**
 * The certificate a `--listen` coordinator (and its embedded Postgres) serves: made at the first
 * start in `$HANDOFF_HOME/tls/`, kept across restarts, made again before it expires; or files the
 * operator names, used as they are.
 */

export const TLS_DIR = 'tls';
/** A certificate with fewer days left than this is made again at start. */
export const RENEW_WITHIN_DAYS = 30;
export const CA_DAYS = 3650;
/** Under 398 days: what browsers and Apple's TLS accept for a server certificate. */
export const SERVER_DAYS = 397;

export interface ServerTlsFiles {
  /** PEM: the server certificate, optionally followed by its chain. */
  cert: string;
  /** PEM: its private key. */
  key: string;
  /** PEM: the CA clients should trust; default the last certificate of `cert`. */
  ca?: string;
}

export interface ServerTlsOptions {
  /** $HANDOFF_HOME; generated files live in `${home}/tls`. */
  home: string;
  /** Names and addresses the certificate must be valid for (see certificateHosts). */
  hosts: string[];
  /** Operator-named files: used as they are, never written or renewed. */
  files?: ServerTlsFiles;
  /** For tests: the time it is, and the validities of what gets made. */
  now?: Date;
  caDays?: number;
  serverDays?: number;
  renewWithinDays?: number;
}

export interface ServerTls {
  /** PEM: the server certificate followed by the CA, so that a client can read the CA in the handshake (login). */
  cert: string;
  /** PEM: the server's private key. */
  key: string;
  /** PEM: the CA. */
  ca: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  /** SHA-256 of the CA, as `fingerprint` writes it: what `handoff login --fingerprint` takes. */
  caFingerprint: string;
  /** When the server certificate expires. */
  notAfter: Date;
  /** What this start did: made everything, kept it, made the server certificate (or CA) again, or took the operator's. */
  action: 'created' | 'reused' | 'renewed' | 'operator';
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '*']);

/**
 * What the server certificate names for a listen address: the address itself (for a wildcard, every
 * address of this machine instead), the host name, and the loopback names, so that a local CLI can
 * use https://127.0.0.1 too.
 */
export function certificateHosts(listen: string): string[] {
  const bare = listen.replace(/^\[(.*)\]$/, '$1');
  const hosts: string[] = [];
  if (WILDCARDS.has(listen)) {
    for (const list of Object.values(networkInterfaces())) {
      for (const address of list ?? []) if (!address.address.startsWith('fe80:')) hosts.push(address.address);
    }
  } else {
    hosts.push(bare);
  }
  hosts.push(hostname(), 'localhost', '127.0.0.1');
  return [...new Set(hosts.filter((h) => h !== ''))];
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Written then renamed, so that a crash never leaves half a key; the mode is set before the rename. */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

function daysLeft(cert: X509Certificate, now: Date): number {
  return (new Date(cert.validTo).getTime() - now.getTime()) / (24 * 60 * 60 * 1000);
}

/** The pair in these files when both exist, parse and belong together; undefined otherwise. */
async function loadPair(
  certFile: string,
  keyFile: string,
): Promise<(CertifiedKey & { x509: X509Certificate }) | undefined> {
  const [cert, key] = await Promise.all([readIfThere(certFile), readIfThere(keyFile)]);
  if (cert === undefined || key === undefined) return undefined;
  try {
    const parsed = new X509Certificate(cert);
    if (!parsed.checkPrivateKey(createPrivateKey(key))) return undefined;
    return { cert, key, x509: parsed };
  } catch {
    return undefined;
  }
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function operatorTls(files: ServerTlsFiles, now: Date): Promise<ServerTls> {
  const [certText, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  const chain = splitPem(certText);
  const leaf = chain[0];
  if (leaf === undefined) throw new Error(`${files.cert} holds no PEM certificate`);
  const server = new X509Certificate(leaf);
  if (!server.checkPrivateKey(createPrivateKey(key))) {
    throw new Error(`${files.key} is not the private key of the certificate in ${files.cert}`);
  }
  if (daysLeft(server, now) <= 0) throw new Error(`the certificate in ${files.cert} expired on ${server.validTo}`);
  const ca = files.ca ? splitPem(await readFile(files.ca, 'utf8')).at(-1) : chain.at(-1);
  if (ca === undefined) throw new Error(`${files.ca} holds no PEM certificate`);
  const fullChain = chain.includes(ca) ? chain : [...chain, ca];
  return {
    cert: `${fullChain.join('\n')}\n`,
    key,
    ca: `${ca}\n`,
    certFile: files.cert,
    keyFile: files.key,
    caFile: files.ca ?? files.cert,
    caFingerprint: fingerprint(ca),
    notAfter: new Date(server.validTo),
    action: 'operator',
  };
}

/** The server's certificate, key and CA: the operator's files, or those in `${home}/tls`, made or renewed as needed. */
export async function ensureServerTls(opts: ServerTlsOptions): Promise<ServerTls> {
  const now = opts.now ?? new Date();
  if (opts.files) return operatorTls(opts.files, now);
  const renewWithin = opts.renewWithinDays ?? RENEW_WITHIN_DAYS;
  const dir = path.join(opts.home, TLS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, 'ca.pem');
  const caKeyFile = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server.key');

  let made: 'created' | 'renewed' | undefined;
  let ca = await loadPair(caFile, caKeyFile);
  if (!ca || daysLeft(ca.x509, now) < renewWithin) {
    made = ca ? 'renewed' : 'created';
    const fresh = await createAuthority({
      name: `handoff CA ${opts.hosts[0] ?? hostname()}`,
      now,
      days: opts.caDays ?? CA_DAYS,
    });
    await writeAtomically(caKeyFile, fresh.key, 0o600);
    await writeAtomically(caFile, fresh.cert, 0o644);
    ca = { ...fresh, x509: new X509Certificate(fresh.cert) };
  }

  const kept = await loadPair(certFile, keyFile);
  const stale =
    !kept ||
    daysLeft(kept.x509, now) < renewWithin ||
    !kept.x509.checkIssued(ca.x509) ||
    !kept.x509.verify(ca.x509.publicKey) ||
    !coversHosts(kept.x509, opts.hosts);
  let server: CertifiedKey & { x509: X509Certificate };
  if (!stale) {
    server = kept;
    // kept: still only the owner may read the keys, whatever happened to them since
    await chmod(keyFile, 0o600);
    await chmod(caKeyFile, 0o600);
  } else {
    made ??= kept ? 'renewed' : 'created';
    const fresh = await createServerCertificate({ ca, hosts: opts.hosts, now, days: opts.serverDays ?? SERVER_DAYS });
    await writeAtomically(keyFile, fresh.key, 0o600);
    await writeAtomically(certFile, fresh.cert, 0o644);
    server = { ...fresh, x509: new X509Certificate(fresh.cert) };
  }

  return {
    cert: `${server.cert.trim()}\n${ca.cert.trim()}\n`,
    key: server.key,
    ca: ca.cert,
    certFile,
    keyFile,
    caFile,
    caFingerprint: fingerprint(ca.cert),
    notAfter: new Date(server.x509.validTo),
    action: made ?? 'reused',
  };
}
