import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  SecretsFile,
  accountHosts,
  createExecutorRedactor,
  credentialValues,
  describeZodIssues,
  formatIssues,
  isCredentialed,
} from '@handoff/contracts';
import type { Redactor } from '@handoff/contracts';

/** `$HANDOFF_HOME/secrets.json` (schema in @handoff/contracts). Executors only. */
export type Secrets = SecretsFile;

export function loadSecrets(home: string): Secrets {
  const path = join(home, 'secrets.json');
  if (!existsSync(path)) return {};
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = SecretsFile.safeParse(raw);
  // the message names fields, never values: values are credentials
  if (!parsed.success) throw new Error(`${path}: ${formatIssues(describeZodIssues(parsed.error))}`);
  for (const [channel, accounts] of Object.entries(parsed.data)) {
    for (const [account, entry] of Object.entries(accounts)) {
      if (isCredentialed(entry) && accountHosts(channel, entry).length === 0) {
        throw new Error(
          `${path}: account ${channel}:${account} holds credentials but names no "hosts" they may be sent to; add "hosts": ["host" or "host:port", ...] to it`,
        );
      }
    }
  }
  return parsed.data;
}

/**
 * The `channel:account` keys this executor may lease: `channel:*` for connectors that need no
 * credentials, and one key per account it holds credentials for otherwise.
 */
export function heldKeys(
  connectors: { name: string; needsCredentials: boolean }[],
  secrets: Secrets,
  onlyChannels?: string[],
): string[] {
  const keys: string[] = [];
  for (const c of connectors) {
    if (onlyChannels && !onlyChannels.includes(c.name)) continue;
    if (!c.needsCredentials) keys.push(`${c.name}:*`);
    else for (const account of Object.keys(secrets[c.name] ?? {})) keys.push(`${c.name}:${account}`);
  }
  return keys;
}

const redactors = new WeakMap<Secrets, Redactor>();

/**
 * Every credential this executor holds (and every one it learns later, such as refreshed tokens),
 * in every encoding: one redactor per secrets file, shared by receipts, error messages and the log,
 * so a receiver shared by two accounts cannot slip the other account's credential through (decision 27).
 */
export function redactorOf(secrets: Secrets): Redactor {
  let r = redactors.get(secrets);
  if (!r) {
    const values = Object.values(secrets).flatMap((accounts) =>
      Object.values(accounts).flatMap((account) => credentialValues(account)),
    );
    redactors.set(secrets, (r = createExecutorRedactor(values)));
  }
  return r;
}
