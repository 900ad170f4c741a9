import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BackupFile } from '@handoff/contracts';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Every regular file under `root`, as paths relative to it with `/` separators, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await fsp.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

/** Size and sha256 of every file under `root` (relative paths), for the manifest. */
export async function describeFiles(root: string, skip: (rel: string) => boolean = () => false): Promise<BackupFile[]> {
  const out: BackupFile[] = [];
  for (const rel of await listFiles(root)) {
    if (skip(rel)) continue;
    const abs = path.join(root, rel);
    const st = await fsp.stat(abs);
    out.push({ path: rel, size: st.size, sha256: await sha256File(abs) });
  }
  return out;
}

/** Gives a tree to `owner` (the postgres OS user when handoff runs as root). */
export async function chownTree(root: string, owner: { uid: number; gid: number }): Promise<void> {
  await fsp.chown(root, owner.uid, owner.gid);
  for (const e of await fsp.readdir(root, { recursive: true, withFileTypes: true })) {
    await fsp.lchown(path.join(e.parentPath, e.name), owner.uid, owner.gid);
  }
}
