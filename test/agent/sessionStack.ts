import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfigInput, AgentEvent } from '@handoff/contracts';
import { SseParser } from '@handoff/router';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { apiClient, onOutputLines } from '../support/lines.ts';

/**
 * A coordinator in a child process (coordinatorChild.ts) on a test database, with a nodes.json and
 * an agent.json of the test's choosing: it can be killed (SIGKILL, no clean stop) and started again
 * on the same home and database, which is what durable sessions are about.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface SessionStack {
  tdb: TestDatabase;
  home: string;
  workspace: string;
  url(): string;
  token(): string;
  /** Starts the coordinator (again); resolves once it listens. */
  start(): Promise<void>;
  /** SIGKILL: the coordinator gets no chance to stop its sessions. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop, as a service manager asks for one. */
  stop(): Promise<void>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** POST an SSE endpoint (run, resume) and read its events until the stream ends or breaks. */
  stream(
    path: string,
    body: unknown,
    onEvent?: (event: AgentEvent) => Promise<void> | void,
  ): Promise<{ status: number; events: AgentEvent[]; error?: unknown }>;
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function startSessionStack(opts: {
  fleet: unknown;
  agentConfig?: AgentConfigInput;
}): Promise<SessionStack> {
  const tdb = await createTestDatabase();
  const home = mkdtempSync(join(tmpdir(), 'handoff-sessions-'));
  writeFileSync(join(home, 'nodes.json'), JSON.stringify(opts.fleet));
  if (opts.agentConfig) writeFileSync(join(home, 'agent.json'), JSON.stringify(opts.agentConfig));
  let child: ChildProcess | null = null;
  let url = '';
  let token = '';

  const start = async (): Promise<void> => {
    const proc = spawn(process.execPath, [join(repo, 'test/agent/coordinatorChild.ts')], {
      env: { ...process.env, HANDOFF_HOME: home, DATABASE_URL: tdb.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const output: string[] = [];
    url = await new Promise<string>((resolve, reject) => {
      onOutputLines([proc.stdout, proc.stderr], (line) => {
        output.push(line);
        const m = /^listening (\S+)$/.exec(line);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`the coordinator exited (${code}): ${output.join('\n')}`)));
    });
    token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
  };

  const signal = async (name: 'SIGKILL' | 'SIGTERM'): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(name);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  await start();

  return {
    tdb,
    home,
    workspace: join(home, 'workspace'),
    url: () => url,
    token: () => token,
    start,
    kill: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
    api: (method, path, body) => apiClient(url, token)(method, path, body),
    async stream(path, body, onEvent) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 200) return { status: res.status, events: [], error: await res.json() };
      const events: AgentEvent[] = [];
      const parser = new SseParser();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (const message of parser.push(chunk)) {
            const event = JSON.parse(message.data) as AgentEvent;
            events.push(event);
            await onEvent?.(event);
          }
        }
      } catch (error) {
        // the coordinator was killed under the stream
        return { status: res.status, events, error };
      }
      return { status: res.status, events };
    },
    cli: (args) =>
      new Promise((resolve) => {
        const proc = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), ...args], {
          env: { ...process.env, HANDOFF_URL: url, HANDOFF_TOKEN: token, HANDOFF_HOME: home },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
        proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        proc.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    async close() {
      await signal('SIGTERM');
      await tdb.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function eventsOf<T extends AgentEvent['type']>(
  events: AgentEvent[],
  type: T,
): Extract<AgentEvent, { type: T }>[] {
  return events.filter((e): e is Extract<AgentEvent, { type: T }> => e.type === type);
}
