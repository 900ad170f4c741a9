import { describeZodIssues } from '@handoff/contracts';
import type { FieldIssue } from '@handoff/contracts';
import type { Connector } from './connector.ts';
import { noopConnector } from './noop.ts';
import { webhookConnector } from './webhook.ts';
import { xConnector } from './x.ts';
import { deployConnector } from './deploy.ts';
import { emailConnector } from './email.ts';
import { calendarConnector } from './calendar.ts';
import { notifyConnector } from './notify.ts';

export const builtInConnectors: Connector[] = [
  noopConnector,
  webhookConnector,
  xConnector,
  emailConnector,
  calendarConnector,
  deployConnector,
  notifyConnector,
] as Connector[];

export type PayloadValidation = { ok: true; payload: unknown } | { ok: false; issues: FieldIssue[] };

export interface ConnectorRegistry {
  get(name: string): Connector | undefined;
  names(): string[];
  /** Validates a payload with its channel's own schema; issues name the field, e.g. `payload.url`. */
  validatePayload(channel: string, payload: unknown): PayloadValidation;
}

export function createConnectorRegistry(list: readonly Connector[] = builtInConnectors): ConnectorRegistry {
  const byName = new Map<string, Connector>();
  for (const connector of list) {
    if (byName.has(connector.name)) throw new Error(`connector "${connector.name}" registered twice`);
    byName.set(connector.name, connector);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()].sort(),
    validatePayload(channel, payload) {
      const connector = byName.get(channel);
      if (!connector) {
        return {
          ok: false,
          issues: [
            {
              path: 'channel',
              message: `unknown channel "${channel}"; known: ${[...byName.keys()].sort().join(', ')}`,
            },
          ],
        };
      }
      const parsed = connector.payloadSchema.safeParse(payload);
      if (parsed.success) return { ok: true, payload: parsed.data };
      return { ok: false, issues: describeZodIssues(parsed.error, 'payload') };
    },
  };
}
