import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Connector } from './connector.ts';

const NoopPayload = z.record(z.string(), z.unknown());
export type NoopPayload = z.infer<typeof NoopPayload>;

/** The id is a pure function of the idempotency key, so reconcile can answer exactly. */
function noopId(idempotencyKey: string): string {
  return 'noop:' + createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 16);
}

/** Does nothing, at once. For wiring, tests and dry runs; no external effect, so no approval by default. */
export const noopConnector: Connector<NoopPayload> = {
  name: 'noop',
  externalEffect: false,
  needsCredentials: false,
  payloadSchema: NoopPayload,
  async execute(intent) {
    return { externalId: noopId(intent.idempotencyKey), url: null };
  },
  async reconcile(intent) {
    return { status: 'done', externalId: noopId(intent.idempotencyKey), url: null };
  },
};
