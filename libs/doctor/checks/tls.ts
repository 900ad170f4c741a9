import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DoctorCheck } from '@handoff/contracts';
import { ageText, line } from './check.ts';

/** handoff renews its own server certificate 30 days before it ends (libs/tls RENEW_WITHIN_DAYS); warn past that. */
export const CERT_WARN_DAYS = 21;
export const CERT_FAIL_DAYS = 3;

/** Expiry of the certificates in $HANDOFF_HOME/tls (the `--listen` CA and server certificate). */
export async function tlsChecks(home: string, now: number = Date.now()): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const name of ['server.pem', 'ca.pem']) {
    const path = join(home, 'tls', name);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch {
      continue; // no --listen here
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (err) {
      checks.push(
        line(
          `tls:${name}`,
          'fail',
          `${path} is not a certificate: ${(err as Error).message}`,
          `remove ${path}; the next start with --listen makes a new one`,
        ),
      );
      continue;
    }
    const left = Date.parse(cert.validTo) - now;
    const days = left / 86_400_000;
    const todo =
      name === 'server.pem'
        ? 'restart the coordinator with --listen: it renews its own certificate (or replace the file you installed)'
        : `the CA ends: remove ${join(home, 'tls')} and start with --listen to make a new one, then \`handoff login\` again on each machine`;
    if (left <= 0) checks.push(line(`tls:${name}`, 'fail', `${path} expired ${ageText(-left)} ago`, todo));
    else if (days < CERT_FAIL_DAYS)
      checks.push(line(`tls:${name}`, 'fail', `${path} expires in ${ageText(left)}`, todo));
    else if (days < CERT_WARN_DAYS)
      checks.push(line(`tls:${name}`, 'warn', `${path} expires in ${ageText(left)}`, todo));
    else checks.push(line(`tls:${name}`, 'ok', `${path} is valid for ${ageText(left)}`));
  }
  return checks;
}
