import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { DetailedPeerCertificate } from 'node:tls';

/**
 * The CA an https server presents at the end of its chain (a `--listen` coordinator sends its
 * certificate and then its CA). Nothing is verified here: the caller compares the CA's fingerprint
 * with one the operator got another way before it trusts it.
 */
export async function fetchPeerCa(url: URL, timeoutMs = 5_000): Promise<string> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 443);
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      // the point is to read a certificate nobody trusts yet; it is pinned by fingerprint, not by this
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      socket.end();
      resolve(peer);
    });
    socket.once('timeout', () => socket.destroy(Object.assign(new Error('ETIMEDOUT'), { code: 'ETIMEDOUT' })));
    socket.once('error', reject);
  });
  if (!chain.raw) throw new Error(`${url.origin} presented no certificate`);
  // Walk up to the last certificate (a self-signed one points at itself).
  let last = chain;
  const seen = new Set<DetailedPeerCertificate>([last]);
  while (last.issuerCertificate && !seen.has(last.issuerCertificate)) {
    last = last.issuerCertificate;
    seen.add(last);
  }
  const cert = new X509Certificate(last.raw);
  if (!cert.ca) {
    throw new Error(
      `${url.origin} sent no CA certificate with its own (its chain ends at "${cert.subject}"); get the CA file from the operator and use --ca`,
    );
  }
  return cert.toString();
}
