import { createRequire } from 'node:module';

/**
 * The create-API load generator, in its own process so that it does not share the server's event
 * loop: autocannon 9 POSTing `/v1/intents` bodies, each with a unique idempotencyKey (set per
 * request by `setupRequest`). argv[2] is a JSON LoadSpec; prints a LoadResult as JSON on stdout.
 */

export interface LoadSpec {
  url: string;
  token: string;
  connections: number;
  durationSec: number;
  keyPrefix: string;
}

export interface LoadResult {
  ok: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** The part of autocannon 9 used here (it ships no types). */
interface AutocannonResult {
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  latency: { p50: number; p99: number };
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
let n = 0;
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.durationSec,
  timeout: 30,
  requests: [
    {
      method: 'POST',
      headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' },
      setupRequest: (req: Record<string, unknown>) => {
        const i = n++;
        return {
          ...req,
          body: JSON.stringify({ channel: 'noop', idempotencyKey: `${spec.keyPrefix}-${i}`, payload: { i } }),
        };
      },
    },
  ],
});
const out: LoadResult = {
  ok: result['2xx'],
  rps: result['2xx'] / result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
