import { join } from 'node:path';
import { GUARD_FILE, GuardFile, readConfigFile, watchConfigFile } from '@handoff/contracts';
import type { ConfigWatcher, WatchConfigOptions } from '@handoff/contracts';

/**
 * `$HANDOFF_HOME/guard.json`, validated at start and on every change: a bad file names the field
 * and the last good rules stay. A missing file means the built-in defaults alone.
 */
export function loadGuardRules(
  home: string,
  handlers: Omit<WatchConfigOptions<GuardFile>, 'defaultValue'> = {},
): ConfigWatcher<GuardFile> {
  return watchConfigFile(join(home, GUARD_FILE), GuardFile, { ...handlers, defaultValue: GuardFile.parse({}) });
}

/** Read guard.json once (the CLI): the rules, or the message naming the bad field. */
export function readGuardRules(home: string): { ok: true; value: GuardFile } | { ok: false; message: string } {
  const result = readConfigFile(join(home, GUARD_FILE), GuardFile, GuardFile.parse({}));
  return result.ok ? { ok: true, value: result.value } : result;
}
