import { KeyObject, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { X509Certificate as NodeCertificate } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API loaded first
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/**
 * Making certificates: a small CA of handoff's own and the server certificates it signs. The X.509
 * encoding is @peculiar/x509's (on Node's WebCrypto); keys are ECDSA P-256, which Node's TLS, the
 * CLI, browsers and Postgres all take, and which is quick to generate.
 */

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

x509.cryptoProvider.set(webcrypto);

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  cert: string;
  key: string;
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

function keyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** Random, positive, 16 bytes: RFC 5280 wants serials unique per CA and at most 20 bytes. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** Commas and the like would end the name's component: keep names to the characters a host name has. */
function commonName(text: string): string {
  return text.replace(/[^A-Za-z0-9.:_ -]/g, '_').slice(0, 64);
}

/** A CA that signs server certificates only (path length 0), valid `days` from `now`. */
export async function createAuthority(opts: { name: string; now: Date; days: number }): Promise<CertifiedKey> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName(opts.name)}`,
    // an hour back: a client whose clock is a little behind still accepts a certificate made just now
    notBefore: new Date(opts.now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(opts.now.getTime() + opts.days * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: keyPem(keys.privateKey) };
}

/** A server certificate for `hosts` (names and IP addresses, the first one its common name), signed by `ca`. */
export async function createServerCertificate(opts: {
  ca: CertifiedKey;
  hosts: string[];
  now: Date;
  days: number;
}): Promise<CertifiedKey> {
  const [first] = opts.hosts;
  if (first === undefined) throw new Error('a server certificate needs at least one host name or address');
  const keys = await newKeys();
  const caCert = new x509.X509Certificate(opts.ca.cert);
  const caKey = await createPrivateKey(opts.ca.key).toCryptoKey(KEY_ALGORITHM, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${commonName(first)}`,
    issuer: caCert.subject,
    notBefore: new Date(opts.now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(opts.now.getTime() + opts.days * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        opts.hosts.map((host) =>
          isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host },
        ),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString('pem'), key: keyPem(keys.privateKey) };
}

/** Whether `cert` is valid for every one of `hosts` (by its SANs). */
export function coversHosts(cert: NodeCertificate, hosts: string[]): boolean {
  return hosts.every((host) => (isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined));
}
