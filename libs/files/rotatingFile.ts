import { appendFile, rename, rm, stat } from 'node:fs/promises';

/**
 * A file handoff appends to that stays bounded: when the next write would take it past `maxBytes`,
 * `name` becomes `name.1` (and `name.1` `name.2`, ..., up to `keep`; the oldest is deleted) and the
 * write starts a new `name`. A write is never split across files, so a line is whole wherever it
 * lands. Writes are serialised: one rotating file per path per process (the agent's audit has one).
 */

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_KEEP = 5;

export interface RotatingFileOptions {
  maxBytes?: number;
  /** Rotated files kept beside the live one. */
  keep?: number;
  /** Mode of a new file (default 0600: these files hold audit records). */
  mode?: number;
}

export interface RotatingFile {
  readonly path: string;
  /** Appends `text` (whole lines, by the caller's choice) after every earlier append. */
  append(text: string): Promise<void>;
}

export function createRotatingFile(path: string, opts: RotatingFileOptions = {}): RotatingFile {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const keep = Math.max(1, opts.keep ?? DEFAULT_KEEP);
  const mode = opts.mode ?? 0o600;
  let size: number | null = null;
  let chain: Promise<void> = Promise.resolve();

  const rotate = async (): Promise<void> => {
    await rm(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      await rename(`${path}.${i}`, `${path}.${i + 1}`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await rename(path, `${path}.1`);
    size = 0;
  };

  const write = async (text: string): Promise<void> => {
    const bytes = Buffer.byteLength(text);
    size ??= await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    // a write larger than the limit still goes whole into a file of its own
    if (size > 0 && size + bytes > maxBytes) await rotate();
    await appendFile(path, text, { mode });
    size += bytes;
  };

  return {
    path,
    append(text) {
      const next = chain.then(() => write(text));
      // a failed write does not stop the ones after it; the size is read again
      chain = next.catch(() => {
        size = null;
      });
      return next;
    },
  };
}
