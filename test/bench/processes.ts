import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { onOutputLines } from '../support/lines.ts';

/** A node child process of the bench, with its output kept for error messages. */
export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  output: string[];
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `node <args>` and resolves once a line of its output matches `ready` (or at once when
 * `ready` is omitted); rejects if it exits first or `timeoutMs` passes.
 */
export async function spawnNode(
  args: string[],
  opts: { env?: Record<string, string>; ready?: RegExp; timeoutMs?: number } = {},
): Promise<NodeProcess & { readyLine: string }> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const ready = new Promise<string>((resolve, reject) => {
    if (!opts.ready) resolve('');
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `node ${args.join(' ')} not ready after ${opts.timeoutMs ?? 60_000} ms:\n${output.slice(-20).join('\n')}`,
          ),
        ),
      opts.timeoutMs ?? 60_000,
    );
    onOutputLines([child.stdout, child.stderr], (line) => {
      if (output.length < 2000) output.push(line);
      if (opts.ready?.test(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(`node ${args.join(' ')} exited (${code}) before it was ready:\n${output.slice(-20).join('\n')}`),
      );
    });
  });
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  try {
    const readyLine = await ready;
    return { child, pid: child.pid!, output, exited, stop, readyLine };
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
}

/** Resident set size of a process in MiB (VmRSS from /proc), NaN once it has gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Samples the RSS of `pids` every `everyMs` and keeps each one's peak until `stop()`. */
export function sampleRss(pids: number[], everyMs = 100): { stop(): number[] } {
  const peaks = pids.map(() => 0);
  const sample = (): void => {
    pids.forEach((pid, i) => {
      const rss = rssMiB(pid);
      if (rss > peaks[i]!) peaks[i] = rss;
    });
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, NaN once it has gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  } catch {
    return Number.NaN;
  }
}

/** Busy and total CPU seconds of the whole machine so far (all cores, from /proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SEC, total: total / TICKS_PER_SEC };
}
