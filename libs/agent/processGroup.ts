import { spawn } from 'node:child_process';
import { HeadTailBuffer } from './outputBuffer.ts';
import type { BashInvocation } from './isolation.ts';

/**
 * Runs one command in its own process group (detached), so that a stop or a timeout can kill the
 * whole tree with one `kill(-pgid)`: SIGTERM, then SIGKILL after a grace period. When the command's
 * own shell exits, whatever it left running in its group is killed too.
 */
export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  output: string;
  truncatedBytes: number;
  timedOut: boolean;
  aborted: boolean;
}

export interface RunOptions {
  invocation: BashInvocation;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  outputLimitBytes: number;
  killGraceMs: number;
  signal: AbortSignal;
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is gone already.
  }
}

export function runInProcessGroup(opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const output = new HeadTailBuffer(opts.outputLimitBytes);
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    let graceTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const child = spawn(opts.invocation.file, opts.invocation.args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      // a root service's commands under isolation none run as the agent's user (see agentUser.ts)
      ...(opts.invocation.uid !== undefined ? { uid: opts.invocation.uid, gid: opts.invocation.gid } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid;

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve({
        exitCode,
        signal: exitSignal,
        output: output.text(),
        truncatedBytes: output.truncatedBytes,
        timedOut,
        aborted,
      });
    };
    const terminate = (): void => {
      if (pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      graceTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), opts.killGraceMs);
    };
    const onAbort = (): void => {
      aborted = true;
      terminate();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, opts.timeoutMs);

    child.stdout.on('data', (c: Buffer) => output.push(c));
    child.stderr.on('data', (c: Buffer) => output.push(c));
    child.on('error', (err) => {
      output.push(Buffer.from(`cannot start bash: ${err.message}\n`));
      finish();
    });
    child.on('exit', (code, sig) => {
      exitCode = code;
      exitSignal = sig;
      // Background processes the command left behind would hold the pipes open and outlive it.
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
      // Give the pipes a moment to drain, then answer even if a stray descendant keeps them open.
      const drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, 1000);
      child.once('close', () => {
        clearTimeout(drain);
        finish();
      });
    });
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  });
}
