import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Policy } from '@handoff/contracts';
import { builtInConnectors, type Connector } from '@handoff/connectors';
import { needsApproval } from '@handoff/intents';

/** An executor's heartbeat key `channel:*`: it serves any account of a channel that needs no credentials. */
export const ANY_ACCOUNT = '*';

export const ChannelAccount = z.object({
  /** An account name, or `*` for any account (the channel needs no credentials). */
  account: z.string(),
  /** Whether an intent on this channel:account waits for a person under the policy in force. */
  needsApproval: z.boolean(),
  /** The live executors holding credentials for it. */
  executors: z.array(z.string()),
});

export const ChannelInfo = z.object({
  channel: z.string(),
  /** True when the effect is visible outside handoff (draft-only policy asks a person for those). */
  externalEffect: z.boolean(),
  /** Whether an intent on an account no rule names needs approval. */
  needsApproval: z.boolean(),
  accounts: z.array(ChannelAccount),
});

export const ChannelList = z.object({ channels: z.array(ChannelInfo) });
export type ChannelList = z.infer<typeof ChannelList>;

export interface ChannelRoutesOptions {
  /** The policy in force; default the default policy (draft-only). */
  policy?: () => Policy;
  connectors?: readonly Connector[];
}

const DEFAULT_POLICY = Policy.parse({});

/**
 * GET /v1/channels (viewer+): every channel handoff has a connector for, the accounts the live
 * executors announce in their heartbeat (`channel:account` keys, never a credential), and whether an
 * intent there needs approval. The MCP tool list_channels reads it.
 */
export const channelRoutes: FastifyPluginAsyncZod<ChannelRoutesOptions> = async (app, opts) => {
  const policy = opts.policy ?? (() => DEFAULT_POLICY);
  const connectors = opts.connectors ?? builtInConnectors;
  app.get('/v1/channels', { config: { access: 'viewer' }, schema: { response: { 200: ChannelList } } }, async () => {
    const live = await app.intents.live();
    const holders = new Map<string, Set<string>>();
    for (const executor of live.executors) {
      if (executor.stale || executor.status === 'stopped') continue;
      for (const key of executor.channels) {
        const ids = holders.get(key) ?? new Set<string>();
        ids.add(executor.id);
        holders.set(key, ids);
      }
    }
    const inForce = policy();
    const channels = [...connectors]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((c) => {
        const accounts = [...holders.keys()]
          .filter((key) => key.startsWith(`${c.name}:`))
          .map((key) => key.slice(c.name.length + 1))
          .sort()
          .map((account) => ({
            account,
            // '*': an executor serves every account of a channel that needs no credentials
            needsApproval: needsApproval(inForce, {
              channel: c.name,
              account: account === ANY_ACCOUNT ? '' : account,
              externalEffect: c.externalEffect,
            }),
            executors: [...holders.get(`${c.name}:${account}`)!].sort(),
          }));
        // an account no rule names ('' is no account name): only a channel-wide rule or the default applies
        const channelWide = needsApproval(inForce, { channel: c.name, account: '', externalEffect: c.externalEffect });
        return { channel: c.name, externalEffect: c.externalEffect, needsApproval: channelWide, accounts };
      });
    return { channels };
  });
};
