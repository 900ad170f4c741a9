export { ensureServerTls, certificateHosts, CA_DAYS, RENEW_WITHIN_DAYS, SERVER_DAYS, TLS_DIR } from './serverTls.ts';
export type { ServerTls, ServerTlsFiles, ServerTlsOptions } from './serverTls.ts';
export { createAuthority, createServerCertificate } from './authority.ts';
export type { CertifiedKey } from './authority.ts';
export { fingerprint, normaliseFingerprint } from './fingerprint.ts';
export { fetchPeerCa } from './peerCa.ts';
