import fsp from 'node:fs/promises';
import path from 'node:path';
import { listBackups, listPartial } from './layout.ts';
import { readManifest } from './manifest.ts';

/** `000000010000000000000003` → its position; a timeline history file sorts before all of them. */
function segmentOf(name: string): string | undefined {
  const m = /^([0-9A-F]{24})(\.gz)?$/.exec(name);
  return m?.[1];
}

/**
 * Keeps the newest `keep` backups in `dir` (and removes partial ones), then removes from the WAL
 * archive every segment older than the oldest kept backup's first: no kept backup can use them, and
 * they are what fills a disk. History files stay (they are tiny and name the timelines).
 */
export async function pruneBackups(opts: {
  dir: string;
  keep: number;
  walArchive?: string;
}): Promise<{ removed: string[]; walRemoved: number }> {
  const removed: string[] = [];
  for (const partial of await listPartial(opts.dir)) {
    await fsp.rm(partial, { recursive: true, force: true });
    removed.push(partial);
  }
  const all = await listBackups(opts.dir);
  for (const old of all.slice(0, Math.max(0, all.length - opts.keep))) {
    await fsp.rm(old, { recursive: true, force: true });
    removed.push(old);
  }
  let walRemoved = 0;
  const oldest = (await listBackups(opts.dir))[0];
  if (opts.walArchive && oldest) {
    const manifest = await readManifest(oldest);
    const first = (await fsp.readdir(path.join(oldest, 'wal')).catch(() => [] as string[]))
      .map(segmentOf)
      .filter((s) => s !== undefined)
      .sort()[0];
    if (manifest.method === 'physical' && first) {
      for (const name of await fsp.readdir(opts.walArchive).catch(() => [] as string[])) {
        const seg = segmentOf(name);
        // compare log and segment numbers; an older timeline's segments below it are as useless
        if (seg && seg.slice(8) < first.slice(8)) {
          await fsp.rm(path.join(opts.walArchive, name), { force: true });
          walRemoved++;
        }
      }
    }
  }
  return { removed, walRemoved };
}
