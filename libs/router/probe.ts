import type { Logger } from 'pino';
import type { Clock } from './health.ts';
import type { FleetRuntime } from './runtime.ts';
import { headersFor, openUpstream, readAll } from './upstream.ts';

/**
 * Active health checks: `GET {baseUrl}/models` of every node whose probe is due (every
 * `reprobeSeconds`, NodeHealth.nextProbeAt). A success reinstates a quarantined node; a failure
 * counts like a request's.
 */

const PROBE_TIMEOUT_MS = 10_000;

export interface ProberOptions {
  runtime: FleetRuntime;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** How often to look for due probes, ms; 0 runs none (tests call `probeDue`). */
  checkMs: number;
}

export interface Prober {
  /** Probes every node whose probe is due; a call while a round runs joins it. */
  probeDue(): Promise<void>;
  /** Stops the timer and waits for a round in progress. */
  close(): Promise<void>;
}

export function createProber(opts: ProberOptions): Prober {
  const { runtime, clock, env, log } = opts;
  let probing: Promise<void> | null = null;

  async function round(): Promise<void> {
    const fleet = runtime.current();
    const due = runtime.nodes().filter((rt) => clock.now() >= rt.health.nextProbeAt);
    await Promise.all(
      due.map(async (rt) => {
        const node = rt.health.node;
        const started = performance.now();
        const signal = AbortSignal.timeout(Math.min(PROBE_TIMEOUT_MS, node.timeouts.firstByteMs));
        try {
          const o = await openUpstream(node, rt.agent, '/models', {
            method: 'GET',
            headers: headersFor(node, env, false),
            signal,
          });
          await readAll(o, 4 * 1024 * 1024);
          const ok = o.status >= 200 && o.status < 300;
          rt.health.recordProbe(
            ok,
            performance.now() - started,
            ok ? null : `probe: HTTP ${o.status}`,
            fleet.thresholds,
          );
        } catch (err) {
          rt.health.recordProbe(false, 0, `probe: ${(err as Error).message}`, fleet.thresholds);
        }
        if (rt.health.state === 'quarantined')
          log.warn({ node: node.id, lastError: rt.health.lastError }, 'router: node quarantined');
      }),
    );
  }

  const prober: Prober = {
    probeDue() {
      probing ??= round().finally(() => {
        probing = null;
      });
      return probing;
    },
    async close() {
      clearInterval(timer);
      await probing?.catch(() => {});
    },
  };

  const timer =
    opts.checkMs > 0
      ? setInterval(() => {
          prober.probeDue().catch((err: unknown) => log.warn({ err }, 'router: probing failed'));
        }, opts.checkMs).unref()
      : undefined;
  return prober;
}
