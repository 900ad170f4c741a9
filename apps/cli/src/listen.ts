import type { Logger } from 'pino';
import type { ServerTls } from '@handoff/tls';
import { operatorTlsFiles } from './config.ts';
import { CliError } from './errors.ts';

/**
 * `handoff start|coordinator --listen ADDR`: the certificate both the HTTPS API and the embedded
 * Postgres serve, made (or renewed, or the operator's files taken) before either starts.
 */

export interface Listening {
  address: string;
  tls: ServerTls;
}

export async function prepareListening(address: string, home: string, log: Logger): Promise<Listening> {
  const { certificateHosts, ensureServerTls } = await import('@handoff/tls');
  const files = operatorTlsFiles();
  let tls: ServerTls;
  try {
    tls = await ensureServerTls({ home, hosts: certificateHosts(address), files });
  } catch (err) {
    throw new CliError(`--listen ${address}: no usable TLS certificate: ${(err as Error).message}`);
  }
  const said = {
    created: 'made a CA and a server certificate',
    renewed: 'made a new server certificate (the old one expired soon or did not name this address)',
    reused: 'kept the server certificate',
    operator: 'using the certificate files HANDOFF_TLS_CERT and HANDOFF_TLS_KEY name',
  }[tls.action];
  log.info({ certFile: tls.certFile, caFingerprint: tls.caFingerprint, notAfter: tls.notAfter }, `TLS: ${said}`);
  return { address, tls };
}

/** What the start-up summary says about it: where the CA is and how other machines pin it. */
export function listeningLines(listening: Listening): [string, string][] {
  const { tls } = listening;
  return [
    ['TLS CA', `${tls.caFile} (SHA-256 ${tls.caFingerprint})`],
    ['certificate', `${tls.certFile}, valid until ${tls.notAfter.toISOString().slice(0, 10)}`],
  ];
}
