import { CoordinatorClient } from './client.ts';
import { apiToken, coordinatorUrl } from './config.ts';

/** What a command needs: somewhere to write, and a client for the coordinator. */

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A client from HANDOFF_URL and HANDOFF_TOKEN (else $HANDOFF_HOME/operator.token). */
export function withClient<T>(fn: (client: CoordinatorClient) => Promise<T>): Promise<T> {
  return fn(new CoordinatorClient({ baseUrl: coordinatorUrl(), token: apiToken() }));
}

/** List endpoints answer a bare array; accept `{<key>: [...]}` too, so the CLI survives either shape. */
export function asList<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === 'object') {
    const inner = (body as Record<string, unknown>)[key] ?? (body as Record<string, unknown>).items;
    if (Array.isArray(inner)) return inner as T[];
  }
  return [];
}

/** Single-object endpoints answer the object; accept `{<key>: {...}}` too. */
export function asObject<T>(body: unknown, key: string): T {
  if (body && typeof body === 'object' && key in body) {
    const inner = (body as Record<string, unknown>)[key];
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) return inner as T;
  }
  return body as T;
}
