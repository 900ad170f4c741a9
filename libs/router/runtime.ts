import type { Agent } from 'undici';
import type { FleetConfig } from '@handoff/contracts';
import { NodeHealth } from './health.ts';
import type { Clock } from './health.ts';
import type { NodeStateStore } from './nodeStateStore.ts';
import type { Availability, FleetSnapshot } from './plan.ts';
import { agentFor } from './upstream.ts';

/**
 * The router's state per node of the fleet in force: its health (counts, quarantine, breaker,
 * next probe) and its connection pool. nodes.json may change at any request; the runtime follows it.
 */

export interface NodeRuntime {
  health: NodeHealth;
  agent: Agent;
  /** The node's config as JSON: a changed node gets a new agent. */
  key: string;
}

export interface FleetRuntime {
  /** The fleet in force, with the per-node state brought in line: a node that stays keeps its health. */
  current(): FleetConfig;
  /** The node's state in the fleet last brought in line. */
  node(id: string): NodeRuntime | undefined;
  nodes(): NodeRuntime[];
  /** What plan reads: each node's availability now, with the free memory read for this request. */
  snapshot(fleet: FleetConfig, freeGb: number | null): FleetSnapshot;
  /** Stops every breaker and closes every pool. */
  close(): Promise<void>;
}

/**
 * `state`: quarantine and breaker on record (nodeStateStore.ts). A node's health starts from its row
 * and each change is noted there; another coordinator's quarantine decisions are taken on.
 */
export function createFleetRuntime(fleet: () => FleetConfig, clock: Clock, state?: NodeStateStore): FleetRuntime {
  const runtimes = new Map<string, NodeRuntime>();
  let synced: FleetConfig | null = null;
  const reprobeMs = (): number => (synced ?? fleet()).thresholds.reprobeSeconds * 1000;

  function newHealth(node: FleetConfig['nodes'][number]): NodeHealth {
    const health = new NodeHealth(node, clock);
    if (!state) return health;
    const saved = state.saved(node.id);
    if (saved) health.adopt(saved, { restart: true, reprobeMs: reprobeMs() });
    health.onChange = (h) => state.save(h.record());
    return health;
  }
  state?.onRemoteChange((record) => {
    runtimes.get(record.nodeId)?.health.adopt(record, { restart: false, reprobeMs: reprobeMs() });
  });

  return {
    current() {
      const config = fleet();
      if (config === synced) return config;
      const seen = new Set<string>();
      for (const node of config.nodes) {
        seen.add(node.id);
        const key = JSON.stringify(node);
        const existing = runtimes.get(node.id);
        if (existing && existing.key === key) continue;
        if (existing) {
          existing.health.node = node;
          void existing.agent.close().catch(() => {});
          existing.agent = agentFor(node);
          existing.key = key;
        } else {
          runtimes.set(node.id, { health: newHealth(node), agent: agentFor(node), key });
        }
      }
      for (const [id, rt] of runtimes) {
        if (seen.has(id)) continue;
        rt.health.shutdown();
        void rt.agent.close().catch(() => {});
        runtimes.delete(id);
      }
      synced = config;
      return config;
    },

    node(id) {
      return runtimes.get(id);
    },

    nodes() {
      return [...runtimes.values()];
    },

    snapshot(config, freeGb) {
      const availability = new Map<string, Availability>();
      for (const [id, rt] of runtimes) availability.set(id, rt.health.unavailable());
      return { fleet: config, availability, freeGb };
    },

    async close() {
      for (const rt of runtimes.values()) {
        rt.health.shutdown();
        await rt.agent.close().catch(() => {});
      }
      runtimes.clear();
    },
  };
}
