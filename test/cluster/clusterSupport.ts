import { spawn, spawnSync, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsUnavailable } from '../support/netns.ts';
import { onOutputLines } from '../support/lines.ts';

/**
 * A small cluster on one machine: a bridge in the host namespace and three network namespaces on
 * it, `primary` (Postgres and the coordinator), `nodeA` and `nodeB` (one executor each). Addresses
 * come from 10.214.<n>.0/24 (bridge .1, primary .2, A .3, B .4), made here and nowhere else; no
 * namespace has a default route, so each reaches the bridge's subnet and nothing more. The host
 * namespace (the test, the CLI, the webhook receiver) is on the bridge at .1.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
export const cliMain = join(repo, 'apps', 'cli', 'src', 'main.ts');

export type Member = 'primary' | 'nodeA' | 'nodeB';
const MEMBERS: Member[] = ['primary', 'nodeA', 'nodeB'];

export interface Cluster {
  /** The host side's address on the bridge: what the namespaces reach the receiver at. */
  hostAddress: string;
  ns: Record<Member, string>;
  address: Record<Member, string>;
  /** Takes the member's link down at the bridge: its packets are dropped, nothing is refused. */
  cut(member: Member): void;
  heal(member: Member): void;
  /** Deletes the namespaces, their veths and the bridge; idempotent, never throws. */
  destroy(): void;
}

/** Why this machine cannot run the cluster suite, or null when it can. */
export function clusterUnavailable(): string | null {
  const why = netnsUnavailable();
  if (why) return why;
  const name = `hobrp${randomBytes(3).toString('hex')}`;
  const probe = spawnSync('ip', ['link', 'add', name, 'type', 'bridge'], { encoding: 'utf8' });
  spawnSync('ip', ['link', 'del', name]);
  if (probe.status !== 0) return `ip link add ... type bridge failed: ${probe.stderr.trim()}`;
  return null;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function usedSubnets(): Set<number> {
  const out = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return new Set([...out.matchAll(/10\.214\.(\d+)\./g)].map((m) => Number(m[1])));
}

export function createCluster(): Cluster {
  const id = randomBytes(3).toString('hex');
  // interface names are at most 15 characters
  const bridge = `hobr${id}`;
  const hostIf = (m: Member): string => `hoc${id}${MEMBERS.indexOf(m)}h`;
  const nsIf = (m: Member): string => `hoc${id}${MEMBERS.indexOf(m)}n`;
  const ns = { primary: `hoclu${id}p`, nodeA: `hoclu${id}a`, nodeB: `hoclu${id}b` };
  const used = usedSubnets();
  let n = Number.parseInt(id.slice(0, 2), 16);
  while (used.has(n)) n = (n + 1) % 256;
  const hostAddress = `10.214.${n}.1`;
  const address = { primary: `10.214.${n}.2`, nodeA: `10.214.${n}.3`, nodeB: `10.214.${n}.4` };
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    // deleting a namespace deletes its end of the pair, and with it the host end
    for (const m of MEMBERS) {
      spawnSync('ip', ['netns', 'del', ns[m]]);
      spawnSync('ip', ['link', 'del', hostIf(m)]);
    }
    spawnSync('ip', ['link', 'del', bridge]);
  };
  // a test that dies without its after() must not leave the namespaces behind
  process.once('exit', destroy);
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${hostAddress}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    for (const m of MEMBERS) {
      ip(['netns', 'add', ns[m]]);
      ip(['link', 'add', hostIf(m), 'type', 'veth', 'peer', 'name', nsIf(m)]);
      ip(['link', 'set', nsIf(m), 'netns', ns[m]]);
      ip(['link', 'set', hostIf(m), 'master', bridge]);
      ip(['link', 'set', hostIf(m), 'up']);
      ip(['-n', ns[m], 'addr', 'add', `${address[m]}/24`, 'dev', nsIf(m)]);
      ip(['-n', ns[m], 'link', 'set', nsIf(m), 'up']);
      ip(['-n', ns[m], 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    destroy();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`could not set up the cluster's namespaces: ${stderr || String(err)}`, { cause: err });
  }
  return {
    hostAddress,
    ns,
    address,
    cut: (m) => ip(['link', 'set', hostIf(m), 'down']),
    heal: (m) => ip(['link', 'set', hostIf(m), 'up']),
    destroy: () => {
      process.removeListener('exit', destroy);
      destroy();
    },
  };
}

/** A long-running `handoff` process (start, executor) in a namespace. */
export interface Running {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | string>;
  /** Resolves with the first line matching `pattern` (from now on or already printed). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** The environment a `handoff` child gets: the test runner's, minus what would point it elsewhere. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    NODE_TEST_CONTEXT: undefined,
    DATABASE_URL: undefined,
    HANDOFF_TOKEN: undefined,
    HANDOFF_URL: undefined,
    HANDOFF_CA: undefined,
    HANDOFF_EXECUTOR_ID: undefined,
    HANDOFF_LISTEN: undefined,
    ...env,
  };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged as NodeJS.ProcessEnv;
}

/**
 * `handoff <args>` inside namespace `ns` (`ip netns exec` execs node, so the child's pid is
 * handoff's own and signals reach it directly), or in the host namespace when `ns` is null.
 */
export function spawnHandoff(ns: string | null, args: string[], env: Record<string, string | undefined>): Running {
  const argv = [process.execPath, cliMain, ...args];
  const child = ns
    ? spawn('ip', ['netns', 'exec', ns, ...argv], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const watchers = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  onOutputLines([child.stdout, child.stderr], (line) => {
    lines.push(line);
    for (const w of watchers) if (w.pattern.test(line)) w.resolve(line);
  });
  // a test process that dies without its after() still asks its children to stop (SIGTERM: a clean
  // stop, so the primary takes its Postgres down with it)
  const orphaned = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', orphaned);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => {
      process.removeListener('exit', orphaned);
      resolve(code ?? sig ?? -1);
    }),
  );
  return {
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 60_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const watcher = {
          pattern,
          resolve: (line: string) => {
            clearTimeout(timer);
            watchers.delete(watcher);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          watchers.delete(watcher);
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.join('\n')}`));
        }, timeoutMs);
        watchers.add(watcher);
        void exited.then((code) => {
          if (!watchers.has(watcher)) return;
          clearTimeout(timer);
          watchers.delete(watcher);
          reject(new Error(`handoff ${args[0]} exited (${code}) before printing ${pattern}:\n${lines.join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGINT', graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A one-shot `handoff <args>` in the host namespace (or `ns`), as a user types it. */
export function runHandoff(
  args: string[],
  env: Record<string, string | undefined>,
  ns: string | null = null,
): Promise<CliRun> {
  return runCommand(ns, process.execPath, [cliMain, ...args], env);
}

/** Any command, in namespace `ns` or the host's; never rejects on a non-zero exit. */
export function runCommand(
  ns: string | null,
  file: string,
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const child = ns
    ? spawn('ip', ['netns', 'exec', ns, file, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(file, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A JSON client for an HTTPS coordinator that trusts only `ca` (the pinned CA, as the CLI does). */
export function httpsApi(baseUrl: string, token: string, ca: string) {
  return <T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        new URL(path, baseUrl),
        {
          method,
          ca,
          agent: false,
          timeout: 15_000,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 15 s`)));
      req.on('error', reject);
      req.end(payload);
    });
}
