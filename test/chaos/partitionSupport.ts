import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutorProcess, Stack } from '../support/stack.ts';
import { onOutputLines } from '../support/lines.ts';
import type { Netns } from '../support/netns.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/**
 * An executor process inside `ns` (`ip netns exec NAME node apps/executor/main.ts`), on the stack's
 * home, reaching Postgres at `databaseUrl` (a proxy on the host's veth address). `ip netns exec`
 * execs node, so the child's pid is the executor's and signals reach it directly.
 */
export async function spawnExecutorInNetns(
  stack: Stack,
  ns: Netns,
  id: string,
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<ExecutorProcess> {
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, join(repo, 'apps/executor/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HANDOFF_HOME: stack.home,
      HANDOFF_EXECUTOR_ID: id,
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
      reject(new Error(`executor ${id} (in ${ns.name}) exited (${code}) before it was ready:\n${output.join('\n')}`)),
    );
  });
  const proc: ExecutorProcess = { id, child, output, exited, signal: (sig) => child.kill(sig) };
  try {
    await ready;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return proc;
}

/** Kills an executor and waits for it to be gone. */
export async function killExecutor(e: ExecutorProcess): Promise<void> {
  if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
  await e.exited;
}
