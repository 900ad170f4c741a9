import { constants, lstatSync, realpathSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { agentUser, giveToAgent } from './agentUser.ts';

/**
 * The one place that decides whether a path is inside a run's sandbox. Every file tool resolves its
 * paths here: the path is made absolute against the working directory and resolved with realpath
 * (for a file that does not exist yet: realpath of its nearest existing ancestor), so symlinks, `..`
 * and absolute paths are judged by where they really lead, not by how they are spelled.
 */
export class SandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxError';
  }
}

export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

export class Sandbox {
  /** Real path of the run's working directory: nothing outside it may be read or written. */
  readonly root: string;

  constructor(root: string) {
    this.root = realpathSync(root);
  }

  /**
   * The real absolute path of `p` (relative to the root, or absolute), or a SandboxError saying why
   * not. `mustExist` refuses a path that does not exist.
   */
  resolve(p: string, opts: { mustExist?: boolean } = {}): string {
    if (p.includes('\0')) throw new SandboxError(`path ${JSON.stringify(p)} contains a NUL byte`);
    const absolute = path.resolve(this.root, p);
    const missing: string[] = [];
    let current = absolute;
    let real: string;
    for (;;) {
      try {
        real = realpathSync(current);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new SandboxError(`${p}: ${(err as Error).message}`);
        // A name that exists but cannot be resolved is a dangling symlink: where it leads is unknown.
        if (existsAsLink(current)) throw new SandboxError(`${p}: is a symlink to a missing target; refused`);
        if (opts.mustExist) throw new SandboxError(`${p}: no such file or directory`);
        missing.unshift(path.basename(current));
        const parent = path.dirname(current);
        if (parent === current) throw new SandboxError(`${p}: cannot be resolved`);
        current = parent;
      }
    }
    const resolved = missing.length > 0 ? path.join(real, ...missing) : real;
    if (!isInside(this.root, resolved)) {
      throw new SandboxError(`${p}: resolves to ${resolved}, outside the sandbox ${this.root}; refused`);
    }
    return resolved;
  }

  /** Relative name of a real path inside the root, for messages. */
  relative(real: string): string {
    return path.relative(this.root, real) || '.';
  }

  /**
   * Opens a file inside the sandbox for reading or writing. O_NOFOLLOW refuses a symlink swapped in
   * after resolve(); for writing, a file with more than one hard link is refused before anything is
   * changed, since its other name may be outside the sandbox.
   */
  async openForWrite(p: string, opts: { create: boolean }): Promise<{ handle: FileHandle; real: string }> {
    const real = this.resolve(p, { mustExist: !opts.create });
    if (opts.create) await this.mkdirInside(path.dirname(real));
    // O_NONBLOCK: a FIFO the agent's commands made would otherwise hold the open (and a libuv thread) for ever.
    const flags =
      constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK | (opts.create ? constants.O_CREAT : 0);
    const handle = await open(real, flags, 0o644).catch((err: NodeJS.ErrnoException) => {
      throw new SandboxError(`${p}: cannot open for writing: ${err.code === 'ELOOP' ? 'is a symlink' : err.message}`);
    });
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new SandboxError(`${p}: not a regular file`);
      if (stat.nlink > 1)
        throw new SandboxError(`${p}: has ${stat.nlink} hard links (one may be outside the sandbox); refused`);
      // A root service's commands run as the agent's user: a file the tools create is theirs too.
      const runAs = agentUser().runAs;
      if (runAs && stat.uid === 0) await handle.chown(runAs.uid, runAs.gid);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return { handle, real };
  }

  async openForRead(p: string): Promise<{ handle: FileHandle; real: string }> {
    const real = this.resolve(p, { mustExist: true });
    const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
      (err: NodeJS.ErrnoException) => {
        throw new SandboxError(`${p}: cannot open: ${err.code === 'ELOOP' ? 'is a symlink' : err.message}`);
      },
    );
    // A hard-linked file's content may belong to a file outside the sandbox: not read either.
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new SandboxError(`${p}: not a regular file`);
    }
    if (stat.nlink > 1) {
      await handle.close();
      throw new SandboxError(`${p}: has ${stat.nlink} hard links (one may be outside the sandbox); refused`);
    }
    return { handle, real };
  }

  private async mkdirInside(dir: string): Promise<void> {
    // dir came from resolve(): its existing part is real and inside; what is missing is created here.
    if (!isInside(this.root, dir)) throw new SandboxError(`${dir}: outside the sandbox`);
    const first = await mkdir(dir, { recursive: true });
    if (!isInside(this.root, realpathSync(dir))) throw new SandboxError(`${dir}: outside the sandbox`);
    // Directories made here belong to the user the commands run as (a root service), like the files.
    if (first) for (let d = dir; isInside(first, d); d = path.dirname(d)) giveToAgent(d, agentUser().runAs);
  }
}

function existsAsLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
