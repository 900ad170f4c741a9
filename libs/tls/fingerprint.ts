import { X509Certificate } from 'node:crypto';

/**
 * A certificate's SHA-256 fingerprint as operators compare it: 32 hex byte pairs joined by colons,
 * upper case (what `openssl x509 -fingerprint -sha256` and browsers show).
 */
export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * A fingerprint as typed (`sha256:ab12...`, `AB:12:...`, with or without colons, any case) in the
 * one form `fingerprint` returns; undefined when it is not 32 bytes of hex.
 */
export function normaliseFingerprint(text: string): string | undefined {
  const hex = text
    .trim()
    .replace(/^sha-?256[:=]?/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}
