import { CoordinatorClient } from './client.ts';
import { clientOptions } from './config.ts';

/** What a command needs: somewhere to write, and a client for the coordinator. */

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A client (client.ts) from HANDOFF_URL, HANDOFF_TOKEN and HANDOFF_CA (else what `handoff login` stored, else $HANDOFF_HOME/operator.token). */
export function withClient<T>(fn: (client: CoordinatorClient) => Promise<T>): Promise<T> {
  return fn(new CoordinatorClient(clientOptions()));
}
