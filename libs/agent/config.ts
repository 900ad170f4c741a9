import { join } from 'node:path';
import { AgentConfig, watchConfigFile } from '@handoff/contracts';
import type { ConfigWatcher, WatchConfigOptions } from '@handoff/contracts';

export const AGENT_CONFIG_FILE = 'agent.json';

/** `${home}/agent.json` with the AgentConfig schema; a missing file is the default `{}`. */
export function loadAgentConfig(
  home: string,
  handlers: Omit<WatchConfigOptions<AgentConfig>, 'defaultValue'> = {},
): ConfigWatcher<AgentConfig> {
  return watchConfigFile(join(home, AGENT_CONFIG_FILE), AgentConfig, {
    ...handlers,
    defaultValue: AgentConfig.parse({}),
  });
}

export function sandboxRootOf(config: AgentConfig, home: string): string {
  return config.sandboxRoot ?? join(home, 'workspace');
}
