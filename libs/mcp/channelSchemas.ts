import { z } from 'zod';
import { builtInConnectors, type Connector } from '@handoff/connectors';

/**
 * The JSON Schema of each channel's payload, generated from the connector's own zod schema (the one
 * POST /v1/intents validates with), so that an MCP client sees every channel's fields. Refinements
 * have no JSON form and stay server-side; what a schema cannot express is left open (`{}`).
 */
export function payloadJsonSchema(connector: Pick<Connector, 'payloadSchema'>): Record<string, unknown> {
  const schema = z.toJSONSchema(connector.payloadSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-7',
  }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}

/** The channels handoff has connectors for, in name order. */
export function channelNames(connectors: readonly Connector[] = builtInConnectors): [string, ...string[]] {
  const names = connectors.map((c) => c.name).sort();
  if (names.length === 0) throw new Error('no connectors');
  return names as [string, ...string[]];
}

/**
 * propose_intent's `payload`: any JSON object for validation here (the coordinator checks it against
 * the channel's schema and answers `validation_failed` naming the field), advertised as one of the
 * channels' payload schemas, each titled with its channel. Advertised, not parsed here: a zod union
 * would pick the first member that fits and could reshape a payload meant for another channel.
 */
export function payloadInputSchema(connectors: readonly Connector[] = builtInConnectors) {
  const variants = [...connectors]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({
      title: `${c.name} payload`,
      description: `the payload when channel is "${c.name}"`,
      ...payloadJsonSchema(c),
    }));
  return z.record(z.string(), z.unknown()).meta({
    description:
      "The connector's payload; its fields depend on `channel` (one of the schemas below, titled by channel). " +
      'For webhook: {url, method?, headers?, body}.',
    anyOf: variants,
  });
}
