import { join } from 'node:path';
import { FleetConfig, watchConfigFile } from '@handoff/contracts';
import type { ConfigWatcher, FleetModel, FleetNode, WatchConfigOptions } from '@handoff/contracts';

export const NODES_FILE = 'nodes.json';

/** The fleet a missing nodes.json means: no nodes, no escalation, default thresholds. */
export const EMPTY_FLEET: FleetConfig = FleetConfig.parse({});

/** `${home}/nodes.json`, validated at start and on every change; a bad change keeps the last good fleet. */
export function loadFleet(
  home: string,
  handlers: Omit<WatchConfigOptions<FleetConfig>, 'defaultValue'> = {},
): ConfigWatcher<FleetConfig> {
  return watchConfigFile(join(home, NODES_FILE), FleetConfig, { ...handlers, defaultValue: EMPTY_FLEET });
}

/** A node that serves a model, with the model's entry (its real id is what goes upstream). */
export interface Server {
  node: FleetNode;
  model: FleetModel;
}

/** Nodes serving `name` (by id or alias), in file order. */
export function serversOf(fleet: FleetConfig, name: string): Server[] {
  const out: Server[] = [];
  for (const node of fleet.nodes) {
    for (const model of node.models) {
      if (model.id === name || model.aliases.includes(name)) out.push({ node, model });
    }
  }
  return out;
}

/** Every name a client may ask for (ids and aliases), each with the nodes that serve it. */
export function modelNames(fleet: FleetConfig): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const node of fleet.nodes) {
    for (const model of node.models) {
      for (const name of [model.id, ...model.aliases]) {
        const owners = names.get(name) ?? [];
        if (!owners.includes(node.id)) owners.push(node.id);
        names.set(name, owners);
      }
    }
  }
  return names;
}

/** True when `name` belongs to the same fleet model as `model` (its id or one of its aliases). */
export function sameModel(model: FleetModel, name: string): boolean {
  return model.id === name || model.aliases.includes(name);
}
