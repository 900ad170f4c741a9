import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { PolicyInput } from '@handoff/contracts';
import { startCoordinator, type RunningCoordinator } from '@handoff/coordinator';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { apiClient, onOutputLines } from './lines.ts';
import { quietLog, withLoopbackReceivers } from './pipeline.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface ExecutorProcess {
  id: string;
  child: ChildProcess;
  output: string[];
  /** Resolves with the exit code (or signal name) once the process has gone. */
  exited: Promise<number | string>;
  signal(sig: NodeJS.Signals): void;
}

export interface Stack {
  tdb: TestDatabase;
  home: string;
  coordinator: RunningCoordinator;
  token: string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  spawnExecutor(id: string, env?: Record<string, string>): Promise<ExecutorProcess>;
  close(): Promise<void>;
}

/** A real coordinator (in this process) and real executor processes on a fresh database. */
export async function startStack(opts: { policy?: PolicyInput; log?: Logger } = {}): Promise<Stack> {
  const tdb = await createTestDatabase();
  const home = mkdtempSync(join(tmpdir(), 'handoff-stack-'));
  writeFileSync(join(home, 'policy.json'), JSON.stringify(withLoopbackReceivers(opts.policy ?? {})));
  const coordinator = await startCoordinator({ home, databaseUrl: tdb.url, port: 0, log: opts.log ?? quietLog });
  const token = readFileSync(coordinator.operatorTokenPath, 'utf8').trim();
  const executors: ExecutorProcess[] = [];

  const api = apiClient(coordinator.url, token);

  const spawnExecutor = async (id: string, env: Record<string, string> = {}): Promise<ExecutorProcess> => {
    const child = spawn(process.execPath, [join(repo, 'apps/executor/main.ts')], {
      env: {
        ...process.env,
        DATABASE_URL: tdb.url,
        HANDOFF_HOME: home,
        HANDOFF_EXECUTOR_ID: id,
        HANDOFF_URL: coordinator.url,
        HANDOFF_SWEEP_MS: '250',
        HANDOFF_HEARTBEAT_MS: '500',
        HANDOFF_LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
    );
    const ready = new Promise<void>((resolve, reject) => {
      onOutputLines([child.stdout, child.stderr], (line) => {
        output.push(line);
        if (line.includes('"executor started"')) resolve();
      });
      void exited.then((code) =>
        reject(new Error(`executor ${id} exited (${code}) before it was ready:\n${output.join('\n')}`)),
      );
    });
    const proc: ExecutorProcess = { id, child, output, exited, signal: (sig) => child.kill(sig) };
    executors.push(proc);
    await ready;
    return proc;
  };

  return {
    tdb,
    home,
    coordinator,
    token,
    api,
    spawnExecutor,
    close: async () => {
      for (const e of executors) {
        if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
      }
      await Promise.all(executors.map((e) => e.exited));
      await coordinator.close();
      await tdb.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
