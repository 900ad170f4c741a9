import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { NodeHealth } from './health.ts';

/** The router's series on the coordinator's registry (no-ops until `register` is called). */
export interface RouterMetrics {
  register(registry: Registry, nodes: () => Iterable<NodeHealth>): void;
  request(node: string, model: string, outcome: string, firstByteSeconds: number | null, totalSeconds: number): void;
  tokens(node: string, model: string, prompt: number | null, completion: number | null): void;
  error(node: string, reason: string): void;
  escalation(from: string, to: string, reason: string): void;
  /** A token count that is the byte bound because the tokenizer hit a cap (too_large, timeout, ...). */
  tokenizerFallback(reason: string): void;
}

export function createRouterMetrics(): RouterMetrics {
  let firstByte: Histogram<'node'> | null = null;
  let duration: Histogram<'node' | 'model' | 'outcome'> | null = null;
  let tokens: Counter<'node' | 'model' | 'kind'> | null = null;
  let errors: Counter<'node' | 'reason'> | null = null;
  let escalations: Counter<'from' | 'to' | 'reason'> | null = null;
  let fallbacks: Counter<'reason'> | null = null;
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
  return {
    register(registry, nodes) {
      firstByte = new Histogram({
        name: 'handoff_router_first_byte_seconds',
        help: "Time to the first byte of a node's answer",
        labelNames: ['node'],
        buckets,
        registers: [registry],
      });
      duration = new Histogram({
        name: 'handoff_router_request_duration_seconds',
        help: 'Routed requests from start to last byte, by node, model and outcome',
        labelNames: ['node', 'model', 'outcome'],
        buckets,
        registers: [registry],
      });
      tokens = new Counter({
        name: 'handoff_router_tokens_total',
        help: 'Tokens reported by the nodes (prompt, completion)',
        labelNames: ['node', 'model', 'kind'],
        registers: [registry],
      });
      errors = new Counter({
        name: 'handoff_router_errors_total',
        help: 'Failed attempts against a node, by reason',
        labelNames: ['node', 'reason'],
        registers: [registry],
      });
      escalations = new Counter({
        name: 'handoff_router_escalations_total',
        help: 'Requests served by another model or node than the first choice',
        labelNames: ['from', 'to', 'reason'],
        registers: [registry],
      });
      fallbacks = new Counter({
        name: 'handoff_router_tokenizer_fallbacks_total',
        help: 'Prompt token counts that are the byte bound because the tokenizer hit its size, time or queue cap',
        labelNames: ['reason'],
        registers: [registry],
      });
      new Gauge({
        name: 'handoff_router_node_up',
        help: '1 when the node takes requests (healthy and breaker not open), else 0',
        labelNames: ['node'],
        registers: [registry],
        collect() {
          this.reset();
          for (const n of nodes()) this.set({ node: n.node.id }, n.unavailable() === null ? 1 : 0);
        },
      });
    },
    request(node, model, outcome, firstByteSeconds, totalSeconds) {
      if (firstByteSeconds !== null) firstByte?.observe({ node }, firstByteSeconds);
      duration?.observe({ node, model, outcome }, totalSeconds);
    },
    tokens(node, model, prompt, completion) {
      if (prompt) tokens?.inc({ node, model, kind: 'prompt' }, prompt);
      if (completion) tokens?.inc({ node, model, kind: 'completion' }, completion);
    },
    error(node, reason) {
      errors?.inc({ node, reason });
    },
    escalation(from, to, reason) {
      escalations?.inc({ from, to, reason });
    },
    tokenizerFallback(reason) {
      fallbacks?.inc({ reason });
    },
  };
}
