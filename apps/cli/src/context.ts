import { CoordinatorClient } from './client.ts';
import { apiToken, coordinatorUrl } from './config.ts';

/** What a command needs: somewhere to write, and a client for the coordinator. */

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A client (client.ts) from HANDOFF_URL and HANDOFF_TOKEN (else $HANDOFF_HOME/operator.token). */
export function withClient<T>(fn: (client: CoordinatorClient) => Promise<T>): Promise<T> {
  return fn(new CoordinatorClient({ baseUrl: coordinatorUrl(), token: apiToken() }));
}
