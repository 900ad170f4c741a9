import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { EventEmitter } from 'node:events';

/**
 * The load generator, in its own process: autocannon (closed loop) or an undici Pool (open loop,
 * `rate`) against one URL with one JSON body, first a warm-up run (discarded), then the measured run. Each response's latency is taken from
 * autocannon's `response` event (fractional ms; its own histogram keeps whole ms only).
 * argv[2] is a JSON LoadSpec; prints a LoadResult as JSON on stdout.
 */

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  warmupSec: number;
  durationSec: number;
  /**
   * Requests per second offered, evenly spaced (open loop, undici Pool of `connections`): what a
   * fleet of agents sends, below saturation. None: autocannon, each connection sending its next
   * request as soon as the last is answered (closed loop, as fast as the path can go).
   */
  rate?: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Requests answered in the warm-up and the measured run together (for CPU per request). */
  allRequests: number;
}

/** The part of autocannon 9 used here (it ships no types). */
interface AutocannonResult {
  duration: number;
  requests: { total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (
  opts: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => EventEmitter;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Open loop: one request every 1/rate s, latency from the moment it is due (waiting for a connection counts). */
async function openLoop(spec: LoadSpec, seconds: number, latencies: number[] | null): Promise<AutocannonResult> {
  const url = new URL(spec.url);
  const pool = new Pool(url.origin, { connections: spec.connections });
  const interval = 1000 / (spec.rate ?? 1);
  const result: AutocannonResult = { duration: seconds, requests: { total: 0 }, non2xx: 0, errors: 0, timeouts: 0 };
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor((performance.now() - start) / interval) + 1;
    for (; sent < due; sent++) {
      const t0 = performance.now();
      const p: Promise<void> = pool
        .request({ path: url.pathname, method: 'POST', headers: spec.headers, body: spec.body })
        .then(async (res) => {
          await res.body.text();
          result.requests.total += 1;
          if (res.statusCode >= 300) result.non2xx += 1;
          else latencies?.push(performance.now() - t0);
        })
        .catch(() => {
          result.errors += 1;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  await pool.close();
  return result;
}

function run(spec: LoadSpec, seconds: number, latencies: number[] | null): Promise<AutocannonResult> {
  if (spec.rate) return openLoop(spec, seconds, latencies);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        connections: spec.connections,
        duration: seconds,
        timeout: 30,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    if (latencies) {
      instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status < 300) latencies.push(ms);
      });
    }
  });
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
const warm = spec.warmupSec > 0 ? (await run(spec, spec.warmupSec, null)).requests.total : 0;
const latencies: number[] = [];
const result = await run(spec, spec.durationSec, latencies);
latencies.sort((a, b) => a - b);
const out: LoadResult = {
  requests: latencies.length,
  rps: latencies.length / result.duration,
  p50: pct(latencies, 50),
  p99: pct(latencies, 99),
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  allRequests: warm + result.requests.total,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
