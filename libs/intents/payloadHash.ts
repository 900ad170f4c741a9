import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth, so equal payloads hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

export function payloadHash(channel: string, account: string, payload: unknown): string {
  // channel and account are part of what an approval approves
  return createHash('sha256').update(canonicalJson({ channel, account, payload })).digest('hex');
}
