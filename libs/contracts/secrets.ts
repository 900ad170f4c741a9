import { z } from 'zod';

/**
 * `$HANDOFF_HOME/secrets.json`: `{ "<channel>": { "<account>": { "hosts": [...], ...credentials } } }`.
 * Executors only. `hosts` names where this account's credentials may go: `host` (any port) or
 * `host:port` (IPv6 as `[::1]:8080`). A call to any other host is refused before it is made
 * (docs/architecture.md decision 26).
 */
export const HostEntry = z
  .string()
  .min(1)
  .max(261)
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$/, 'must be "host" or "host:port" (IPv6 as "[::1]:8080")');

export const SecretsAccount = z.record(z.string(), z.unknown()).superRefine((account, ctx) => {
  if (account.hosts === undefined) return;
  const parsed = z.array(HostEntry).safeParse(account.hosts);
  // issues name the field and the rule, never a value
  if (!parsed.success)
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: 'custom', path: ['hosts', ...issue.path], message: issue.message });
});
export const SecretsFile = z.record(z.string(), z.record(z.string(), SecretsAccount));
export type SecretsFile = z.infer<typeof SecretsFile>;

/** True when the account holds anything but `hosts`: then it must say where its credentials may go. */
export function isCredentialed(account: Record<string, unknown>): boolean {
  return Object.keys(account).some((k) => k !== 'hosts');
}

function hostOfUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return new URL(value).host.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

function hostPort(server: unknown): string | undefined {
  if (server === null || typeof server !== 'object') return undefined;
  const { host, port } = server as { host?: unknown; port?: unknown };
  if (typeof host !== 'string' || host === '') return undefined;
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return typeof port === 'number' ? `${h}:${port}` : h;
}

/** Fixed provider hosts implied when the account does not set its own API base URL. */
const X_HOSTS = ['api.x.com', 'api.twitter.com'];
const GITHUB_HOSTS = ['api.github.com'];
const TELEGRAM_HOSTS = ['api.telegram.org'];

/**
 * Where an account's credentials may go: its own `hosts`, plus the hosts its own configuration
 * names (decision 26): x's and GitHub's `apiBaseUrl` (default api.x.com and api.twitter.com,
 * api.github.com), email's smtp and imap host:port, calendar's serverUrl and calendarUrl, a notify
 * target's by its kind (ntfy `url`, slack `webhookUrl`, telegram `apiBaseUrl` (default
 * api.telegram.org), email `smtp` and `imap`). A webhook
 * account, and a deploy account of webhook kind, have no server of their own: only `hosts` counts.
 */
export function accountHosts(channel: string, account: Record<string, unknown> | undefined): string[] {
  if (!account) return [];
  const out = new Set<string>();
  if (Array.isArray(account.hosts)) for (const h of account.hosts) if (typeof h === 'string') out.add(h.toLowerCase());
  const add = (h: string | undefined): void => {
    if (h) out.add(h);
  };
  if (channel === 'x') {
    if (account.apiBaseUrl === undefined) X_HOSTS.forEach((h) => out.add(h));
    else add(hostOfUrl(account.apiBaseUrl));
  } else if (channel === 'deploy' && typeof account.token === 'string') {
    if (account.apiBaseUrl === undefined) GITHUB_HOSTS.forEach((h) => out.add(h));
    else add(hostOfUrl(account.apiBaseUrl));
  } else if (channel === 'email') {
    add(hostPort(account.smtp));
    add(hostPort(account.imap));
  } else if (channel === 'calendar') {
    add(hostOfUrl(account.serverUrl));
    add(hostOfUrl(account.calendarUrl));
  } else if (channel === 'notify') {
    // a notify target's provider is fixed by its kind and its own settings, never by a payload
    if (account.kind === 'ntfy') add(hostOfUrl(account.url));
    else if (account.kind === 'slack') add(hostOfUrl(account.webhookUrl));
    else if (account.kind === 'telegram') {
      if (account.apiBaseUrl === undefined) TELEGRAM_HOSTS.forEach((h) => out.add(h));
      else add(hostOfUrl(account.apiBaseUrl));
    } else if (account.kind === 'email') {
      add(hostPort(account.smtp));
      add(hostPort(account.imap));
    }
  }
  return [...out];
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * Does a `host` / `host:port` list name this URL? `host` matches any port; `host:port` the exact
 * port (the scheme's default when the URL has none). Case and a trailing dot do not matter.
 */
export function hostListed(url: URL, entries: readonly string[]): boolean {
  return hostPortListed(url.hostname, url.port || DEFAULT_PORT[url.protocol] || '', entries);
}

/** hostListed for a host name or address (IPv6 with or without brackets) and a port. */
export function hostPortListed(host: string, port: string | number, entries: readonly string[]): boolean {
  const bare = (h: string): string =>
    h
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '');
  const hostname = bare(host);
  for (const raw of entries) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(raw.trim());
    const entryHost = m ? m[1]! : raw.trim();
    if (bare(entryHost) !== hostname) continue;
    if (!m || m[2] === undefined || m[2] === String(port)) return true;
  }
  return false;
}
