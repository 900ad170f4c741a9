import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LocalGateFile, describeZodIssues, formatIssues } from '@handoff/contracts';

/**
 * `$HANDOFF_HOME/executor_gate.json` (`{"enabled": false}` pauses this executor). Read from the
 * local disk, so it works when Postgres is unreachable. A file that cannot be read or parsed
 * counts as closed: a kill switch fails safe.
 */
export interface LocalGate {
  enabled(): boolean;
  reason(): string | null;
  close(): void;
}

export function watchLocalGate(home: string, log: Logger, onChange?: (enabled: boolean) => void): LocalGate {
  const path = join(home, 'executor_gate.json');
  let state = read();

  function read(): { enabled: boolean; reason: string | null } {
    if (!existsSync(path)) return { enabled: true, reason: null };
    try {
      const parsed = LocalGateFile.safeParse(JSON.parse(readFileSync(path, 'utf8')));
      if (!parsed.success) {
        const reason = `${path}: ${formatIssues(describeZodIssues(parsed.error))}`;
        log.error({ path }, `local gate file invalid, treating as closed: ${reason}`);
        return { enabled: false, reason };
      }
      return { enabled: parsed.data.enabled, reason: parsed.data.reason ?? null };
    } catch (err) {
      const reason = `${path}: ${(err as Error).message}`;
      log.error({ path }, `local gate file unreadable, treating as closed: ${reason}`);
      return { enabled: false, reason };
    }
  }

  const refresh = (): void => {
    const next = read();
    if (next.enabled !== state.enabled) {
      log.warn({ enabled: next.enabled, reason: next.reason }, 'local executor gate changed');
      state = next;
      onChange?.(next.enabled);
    } else state = next;
  };
  // polling the file stays correct across editors that replace it and filesystems without inotify
  watchFile(path, { interval: 250, persistent: false }, refresh);
  return {
    enabled: () => {
      return state.enabled;
    },
    reason: () => state.reason,
    close: () => unwatchFile(path, refresh),
  };
}
