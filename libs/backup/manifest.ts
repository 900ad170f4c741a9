import fsp from 'node:fs/promises';
import path from 'node:path';
import { BackupManifest } from '@handoff/contracts';
import { sha256File } from './files.ts';
import { MANIFEST } from './layout.ts';

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  await fsp.writeFile(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${dir} is not a handoff backup: it has no ${MANIFEST}`, { cause: err });
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: the backup is damaged`, { cause: err });
  }
  const parsed = BackupManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file} is not a handoff backup manifest: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Every file the manifest lists is there with its size and sha256. The first that is not is named,
 * so a damaged backup is refused before anything of the target is touched.
 */
export async function verifyChecksums(dir: string, manifest: BackupManifest): Promise<void> {
  for (const f of manifest.files) {
    const abs = path.join(dir, ...f.path.split('/'));
    if (path.relative(dir, abs).startsWith('..'))
      throw new Error(`${MANIFEST} names a file outside the backup: ${f.path}`);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st) throw new Error(`backup file ${f.path} is missing from ${dir}: the backup is incomplete; use another`);
    const sha = st.size === f.size ? await sha256File(abs) : undefined;
    if (sha !== f.sha256) {
      throw new Error(
        `backup file ${f.path} does not match its checksum in ${MANIFEST} (${st.size === f.size ? 'sha256 differs' : `${st.size} bytes, expected ${f.size}`}): the backup is damaged; use another`,
      );
    }
  }
}
