import pg from 'pg';
import type { Logger } from 'pino';
import { scopesCovering } from '@handoff/contracts';
import { GATES_CHANNEL } from './store.ts';

/**
 * Hears gate changes by LISTEN/NOTIFY and keeps the closed scopes in memory, so an executor stops
 * claiming the moment a gate closes. The lease statement checks gates itself; this only saves
 * doomed claims. Reconnects on its own, and re-reads the table on every (re)connect and every few
 * seconds, so a missed notification costs at most one refresh interval.
 */
export class GateListener {
  #closed = new Set<string>();
  #client: pg.Client | null = null;
  #stopped = false;
  #refreshTimer: NodeJS.Timeout | null = null;
  readonly #url: string;
  readonly #log: Logger;

  constructor(url: string, log: Logger) {
    this.#url = url;
    this.#log = log;
  }

  async start(): Promise<void> {
    await this.#connect().catch((err: unknown) => {
      this.#log.warn({ err }, 'gate listener could not connect; retrying');
      this.#scheduleReconnect();
    });
    this.#refreshTimer = setInterval(() => void this.#refresh(), 5000);
    this.#refreshTimer.unref();
  }

  /** True when a closed gate covers this channel:account. */
  covers(channel: string, account: string): boolean {
    return scopesCovering(channel, account).some((scope) => this.#closed.has(scope));
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.#url, application_name: 'handoff-gates' });
    client.on('error', (err) => {
      this.#log.warn({ err }, 'gate listener connection error');
      this.#drop(client);
    });
    client.on('end', () => this.#drop(client));
    client.on('notification', () => void this.#refresh());
    await client.connect();
    await client.query(`LISTEN ${GATES_CHANNEL}`);
    this.#client = client;
    await this.#refresh();
  }

  #drop(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#connect().catch((err: unknown) => {
        this.#log.debug({ err }, 'gate listener reconnect failed');
        this.#scheduleReconnect();
      });
    }, 1000);
    t.unref();
  }

  async #refresh(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    try {
      const result = await client.query<{ scope: string }>('SELECT scope FROM gates WHERE NOT enabled');
      const next = new Set(result.rows.map((r) => r.scope));
      const changed = next.size !== this.#closed.size || [...next].some((s) => !this.#closed.has(s));
      this.#closed = next;
      if (changed) this.#log.warn({ closed: [...next] }, 'gates changed');
    } catch (err) {
      this.#log.debug({ err }, 'gate refresh failed');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#refreshTimer) clearInterval(this.#refreshTimer);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }
}
