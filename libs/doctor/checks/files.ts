import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DoctorCheck } from '@handoff/contracts';
import { line } from './check.ts';

/**
 * Files in $HANDOFF_HOME that hold credentials: only their owner may read them (0600). Several
 * are refused by the code that reads them when they are not; doctor says so before that happens.
 */
export const SECRET_FILES = [
  'secrets.json',
  'nodes.json',
  'node.json',
  'operator.token',
  'tls/ca.key',
  'tls/server.key',
];
/** Files that decide what runs: nobody but their owner may change them. */
export const CONTROL_FILES = ['policy.json', 'agent.json', 'guard.json'];

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

export async function fileModeChecks(home: string): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const look = async (name: string, badBits: number, what: string): Promise<void> => {
    const path = join(home, name);
    let st;
    try {
      st = await lstat(path);
    } catch {
      return; // absent is fine: not every home holds every file
    }
    const mode = st.mode & 0o777;
    if (mode & badBits)
      checks.push(line(`file:${name}`, 'fail', `${path} is mode ${octal(mode)}: ${what}`, `chmod 600 ${path}`));
    else checks.push(line(`file:${name}`, 'ok', `${path} is mode ${octal(mode)}`));
  };
  for (const name of SECRET_FILES) await look(name, 0o077, 'other users may read the credentials in it');
  for (const name of CONTROL_FILES) await look(name, 0o022, 'other users may change it');
  return checks;
}
