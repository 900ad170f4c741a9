/**
 * The model router's benchmark (issue 3): added latency (p50, p99) and throughput of the router
 * against calling the upstream directly, for non-streamed and streamed chat completions at 1, 50
 * and 500 concurrent clients, with the Portkey gateway (@portkey-ai/gateway, run locally) beside it
 * against the same upstream in the same run. Five processes: the fake upstream
 * (fakeUpstream.ts), the router (routerBench/server.ts), Portkey, and one load generator per
 * measurement (routerBench/load.ts, autocannon). The three paths are measured one after another
 * per scenario, so drift of the machine hits them alike.
 *
 *   node_modules/.bin/node test/bench/router.ts [--quick] [--json]
 *
 * BENCH_ROUTER_SECONDS / BENCH_ROUTER_WARMUP (default 5 / 1; --quick 1 / 0.5) set the durations;
 * BENCH_ROUTER_CONNECTIONS (default 1,50,500) the client counts (closed loop, autocannon);
 * BENCH_ROUTER_RATE (default 400,1000; a list, 0 to skip) adds, per rate, an open-loop run of that many
 * evenly spaced requests per second over up to 50 connections, below what every path can serve,
 * so that the added latency is seen without a saturated CPU; BENCH_ROUTER_PROF=dir writes a CPU profile of
 * the router process there.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.ts';
import { progress as report } from './report.ts';
import type { BenchFigure, BenchOptions } from './report.ts';
import { ANSWER_TEXT, BENCH_MODEL } from './fakeUpstream.ts';
import type { LoadResult, LoadSpec } from './routerBench/load.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const repo = here('../..');

/** `router`: a node of kind openai (pass-through); `router-vllm`: kind vllm (answers normalised, streams re-framed). */
type PathName = 'direct' | 'router' | 'router-vllm' | 'portkey';
const PATHS: PathName[] = ['direct', 'router', 'router-vllm', 'portkey'];
const PROXIES = ['router', 'router-vllm', 'portkey'] as const;
const WHO: Record<(typeof PROXIES)[number], string> = {
  router: 'handoff router',
  'router-vllm': 'handoff router (vllm kind)',
  portkey: 'Portkey',
};

interface Target {
  url: string;
  headers: Record<string, string>;
  model: string;
}

/** CPU time a process spent per request, µs (user + system, from /proc, so contention does not inflate it). */
interface CpuPerRequest {
  proxy: number | null;
  upstream: number | null;
}

interface Measured {
  stream: boolean;
  connections: number;
  /** Offered requests per second, for the scenarios below saturation. */
  rate?: number;
  results: Record<PathName, LoadResult>;
  cpu: Record<PathName, CpuPerRequest>;
}

const TICKS_PER_SECOND = 100; // USER_HZ: what /proc/<pid>/stat counts in on Linux

/** CPU seconds (user + system) a process has used, or null off Linux. */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

const children: ChildProcess[] = [];

/** A node child process; `quiet`: its stdout goes to /dev/null (the router's log lines). */
function startChild(args: string[], quiet = false): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: repo,
    env: process.env,
    stdio: ['ignore', quiet ? 'ignore' : 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal === null && children.includes(child))
      process.stderr.write(`bench: ${args.join(' ')} exited ${code}: ${stderr}\n`);
  });
  return child;
}

/** The first line a child prints, parsed as JSON. */
function firstLine<T>(child: ChildProcess, what: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${what} printed nothing within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it was ready`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`${what} printed ${line}`));
      }
    });
  });
}

async function waitHttp(url: string, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url} within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}

const bodyOf = (stream: boolean, model = BENCH_MODEL): string =>
  JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
  });

/** One request of each kind through a path: a 200 and the upstream's answer, whole, or the error. */
async function verify(name: PathName, t: Target): Promise<void> {
  const post = (stream: boolean): Promise<Response> =>
    fetch(t.url, { method: 'POST', headers: t.headers, body: bodyOf(stream, t.model) });
  const plain = await post(false);
  const text = await plain.text();
  if (plain.status !== 200) throw new Error(`${name}: non-streamed answer ${plain.status}: ${text.slice(0, 300)}`);
  const content = (JSON.parse(text) as { choices?: { message?: { content?: string } }[] }).choices?.[0]?.message
    ?.content;
  if (content !== ANSWER_TEXT) throw new Error(`${name}: non-streamed content ${JSON.stringify(content)}`);
  const streamed = await post(true);
  const sse = await streamed.text();
  if (streamed.status !== 200) throw new Error(`${name}: streamed answer ${streamed.status}: ${sse.slice(0, 300)}`);
  const data = sse
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim());
  if (data[data.length - 1] !== '[DONE]')
    throw new Error(`${name}: the stream does not end with [DONE]: ${sse.slice(-200)}`);
  const joined = data
    .slice(0, -1)
    .map((d) => (JSON.parse(d) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '')
    .join('');
  if (joined !== ANSWER_TEXT) throw new Error(`${name}: streamed content ${JSON.stringify(joined)}`);
}

async function load(spec: LoadSpec): Promise<LoadResult> {
  const child = startChild([here('./routerBench/load.ts'), JSON.stringify(spec)]);
  const result = await firstLine<LoadResult>(
    child,
    'load generator',
    (spec.warmupSec + spec.durationSec) * 1000 + 120_000,
  );
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  children.splice(children.indexOf(child), 1);
  return result;
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function figuresOf(runs: Measured[], seconds: number): BenchFigure[] {
  const out: BenchFigure[] = [];
  for (const m of runs) {
    const d = m.results.direct;
    const settings = { stream: m.stream, connections: m.connections, offeredRate: m.rate ?? 0, seconds };
    const scenario = `${m.stream ? 'streamed' : 'non-streamed'}, ${m.connections} clients${m.rate ? ` at ${m.rate} req/s offered` : ''}`;
    out.push({ section: 'router', name: `direct p50 (${scenario})`, value: round(d.p50), unit: 'ms', settings });
    out.push({ section: 'router', name: `direct p99 (${scenario})`, value: round(d.p99), unit: 'ms', settings });
    out.push({
      section: 'router',
      name: `direct throughput (${scenario})`,
      value: round(d.rps, 0),
      unit: 'req/s',
      settings,
    });
    for (const path of PROXIES) {
      const r = m.results[path];
      const who = WHO[path];
      out.push({
        section: 'router',
        name: `${who} p50 added (${scenario})`,
        value: round(r.p50 - d.p50),
        unit: 'ms',
        baseline: { name: 'direct p50', value: round(d.p50) },
        note: `${who} p50 ${round(r.p50)} ms; value is the difference`,
        settings,
      });
      out.push({
        section: 'router',
        name: `${who} p99 added (${scenario})`,
        value: round(r.p99 - d.p99),
        unit: 'ms',
        baseline: { name: 'direct p99', value: round(d.p99) },
        note: `${who} p99 ${round(r.p99)} ms; value is the difference`,
        settings,
      });
      out.push({
        section: 'router',
        name: `${who} throughput (${scenario})`,
        value: round(r.rps, 0),
        unit: 'req/s',
        baseline: { name: 'direct', value: round(d.rps, 0) },
        ratio: round(r.rps / d.rps),
        note:
          r.non2xx + r.errors + r.timeouts > 0
            ? `${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`
            : undefined,
        settings,
      });
      const cpu = m.cpu[path].proxy;
      const upstreamCpu = m.cpu.direct.upstream;
      if (cpu !== null) {
        out.push({
          section: 'router',
          name: `${who} CPU per request (${scenario})`,
          value: round(cpu, 0),
          unit: 'µs',
          ...(upstreamCpu !== null
            ? { baseline: { name: 'fake upstream CPU per request', value: round(upstreamCpu, 0) } }
            : {}),
          note: `user + system time of the ${who} process over the run / requests; 1e6 / value = req/s one core could serve`,
          settings,
        });
      }
    }
  }
  return out;
}

/** A number for the table; a path that answered nothing has none (JSON turns NaN into null). */
const fix = (x: number | null, d: number): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));

function table(runs: Measured[]): string {
  const lines = [
    'scenario                    path        p50 ms   p99 ms    req/s   +p50 ms  +p99 ms  tput/direct  failed  CPU µs/req',
    '-'.repeat(116),
  ];
  for (const m of runs) {
    const d = m.results.direct;
    const scenario = `${m.stream ? 'streamed' : 'non-streamed'} x${m.connections}${m.rate ? ` @${m.rate}/s` : ''}`;
    for (const path of PATHS) {
      const r = m.results[path];
      const added =
        path === 'direct'
          ? ['', '', '']
          : [fix(r.p50 - d.p50, 3), fix(r.p99 - d.p99, 3), `${fix((100 * r.rps) / d.rps, 1)} %`];
      lines.push(
        [
          (path === 'direct' ? scenario : '').padEnd(27),
          path.padEnd(11),
          fix(r.p50, 3).padStart(7),
          fix(r.p99, 3).padStart(8),
          fix(r.rps, 0).padStart(8),
          added[0]!.padStart(9),
          added[1]!.padStart(8),
          added[2]!.padStart(12),
          String(r.non2xx + r.errors + r.timeouts).padStart(7),
          // direct: the fake upstream's CPU; router, portkey: the proxy's own
          fix(path === 'direct' ? m.cpu.direct.upstream : m.cpu[path].proxy, 0).padStart(11),
        ].join(' '),
      );
    }
  }
  return lines.join('\n');
}

/** Runs every measurement; the figures and the table of the same run. */
export async function routerBenchRun(opts: BenchOptions): Promise<{ figures: BenchFigure[]; table: string }> {
  const seconds = Number(process.env.BENCH_ROUTER_SECONDS ?? (opts.quick ? 1 : 5));
  const warmup = Number(process.env.BENCH_ROUTER_WARMUP ?? (opts.quick ? 0.5 : 1));
  const connections = (process.env.BENCH_ROUTER_CONNECTIONS ?? '1,50,500').split(',').map(Number);
  // 50 clients at a rate every path can serve: the added latency without a saturated CPU (0: skip).
  const rates = (process.env.BENCH_ROUTER_RATE ?? '400,1000')
    .split(',')
    .map(Number)
    .filter((r) => r > 0);
  const scenarios: { connections: number; rate?: number }[] = connections.map((c) => ({ connections: c }));
  for (const rate of rates) scenarios.push({ connections: 50, rate });
  const progress = (what: string): void => report('router', what);
  try {
    const upstream = startChild([here('./fakeUpstream.ts')]);
    const pids: Record<PathName, number | undefined> = {
      direct: undefined,
      router: undefined,
      'router-vllm': undefined,
      portkey: undefined,
    };
    const upstreamPort = (await firstLine<{ port: number }>(upstream, 'fake upstream')).port;
    const upstreamBase = `http://127.0.0.1:${upstreamPort}/v1`;
    const prof = process.env.BENCH_ROUTER_PROF;
    const routerPort = await freePort();
    const routerChild = startChild(
      [
        ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
        here('./routerBench/server.ts'),
        upstreamBase,
        String(routerPort),
      ],
      true,
    );
    const portkeyPort = await freePort();
    pids.router = routerChild.pid;
    pids['router-vllm'] = routerChild.pid;
    pids.portkey = startChild([
      '--import',
      here('./routerBench/portkeyShim.ts'),
      here('../../node_modules/@portkey-ai/gateway/build/start-server.js'),
      `--port=${portkeyPort}`,
      '--headless',
    ]).pid;
    await waitHttp(`http://127.0.0.1:${routerPort}/v1/models`, 'the router');
    await waitHttp(`http://127.0.0.1:${portkeyPort}/`, 'Portkey');
    const json = { 'content-type': 'application/json' };
    const targets: Record<PathName, Target> = {
      direct: { url: `${upstreamBase}/chat/completions`, headers: json, model: BENCH_MODEL },
      router: { url: `http://127.0.0.1:${routerPort}/v1/chat/completions`, headers: json, model: BENCH_MODEL },
      'router-vllm': {
        url: `http://127.0.0.1:${routerPort}/v1/chat/completions`,
        headers: json,
        model: 'bench-model-vllm',
      },
      portkey: {
        model: BENCH_MODEL,
        url: `http://127.0.0.1:${portkeyPort}/v1/chat/completions`,
        // Portkey's OpenAI provider with a self-hosted base URL (docs: "custom host"); it wants a key.
        headers: {
          ...json,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': upstreamBase,
          authorization: 'Bearer sk-bench',
        },
      },
    };
    for (const path of PATHS) await verify(path, targets[path]);
    progress(`all paths answer 200 with the upstream's body; ${seconds} s per measurement after ${warmup} s warm-up`);
    const runs: Measured[] = [];
    for (const stream of [false, true]) {
      for (const { connections: c, rate: r } of scenarios) {
        const results = {} as Record<PathName, LoadResult>;
        const cpu = {} as Record<PathName, CpuPerRequest>;
        for (const path of PATHS) {
          progress(`${stream ? 'streamed' : 'non-streamed'} x${c}${r ? ` @${r}/s` : ''} ${path}`);
          const before = { proxy: cpuSeconds(pids[path]), upstream: cpuSeconds(upstream.pid) };
          results[path] = await load({
            url: targets[path].url,
            headers: targets[path].headers,
            body: bodyOf(stream, targets[path].model),
            connections: c,
            warmupSec: warmup,
            durationSec: seconds,
            rate: r,
          });
          const n = results[path].allRequests;
          const per = (a: number | null, b: number | null): number | null =>
            a === null || b === null || n === 0 ? null : ((b - a) * 1e6) / n;
          cpu[path] = {
            proxy: per(before.proxy, cpuSeconds(pids[path])),
            upstream: per(before.upstream, cpuSeconds(upstream.pid)),
          };
        }
        runs.push({ stream, connections: c, rate: r, results, cpu });
      }
    }
    return { figures: figuresOf(runs, seconds), table: table(runs) };
  } finally {
    await Promise.all(
      children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}

/** The router's section of `npm run bench` (test/bench/run.ts). */
export async function routerBench(opts: BenchOptions): Promise<BenchFigure[]> {
  return (await routerBenchRun(opts)).figures;
}

if (import.meta.main) {
  const opts: BenchOptions = { json: process.argv.includes('--json'), quick: process.argv.includes('--quick') };
  const { figures, table: text } = await routerBenchRun(opts);
  console.log(opts.json ? JSON.stringify(figures, null, 2) : text);
}
