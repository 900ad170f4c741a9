import { realpathSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Removes a temporary HANDOFF_HOME and, when the embedded Postgres kept its data outside it (as
 * root: `/var/lib/handoff/<hash>/pg`, with `<home>/pg` a symlink there), that data too: each such
 * cluster is some 50 MB that would otherwise pile up run after run.
 */
export function removeHome(home: string): void {
  let data: string | undefined;
  try {
    data = realpathSync(path.join(home, 'pg'));
  } catch {
    // no cluster was made
  }
  rmSync(home, { recursive: true, force: true });
  if (data?.startsWith('/var/lib/handoff/')) rmSync(path.dirname(data), { recursive: true, force: true });
}
