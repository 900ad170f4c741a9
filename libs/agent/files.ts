import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import ignore from 'ignore';
import type { Ignore } from 'ignore';
import type { Sandbox } from './sandbox.ts';
import { SandboxError } from './sandbox.ts';

/**
 * The files under a directory of the sandbox that match a glob, respecting every .gitignore in the
 * sandbox (the `ignore` package implements git's rules), never following symlinks and never
 * leaving the sandbox. .git and node_modules are skipped outright: they are where big trees hide.
 */
const ALWAYS_SKIPPED = ['**/.git/**', '**/node_modules/**'];

export function checkPattern(pattern: string): void {
  if (path.isAbsolute(pattern))
    throw new SandboxError(
      `pattern ${JSON.stringify(pattern)} is absolute; give a pattern relative to the sandbox and use \`path\` for a subdirectory`,
    );
  if (pattern.split(/[\\/]/).includes('..'))
    throw new SandboxError(`pattern ${JSON.stringify(pattern)} climbs out with ..; refused`);
}

async function gitignores(sandbox: Sandbox): Promise<Map<string, Ignore>> {
  const files = await fg('**/.gitignore', {
    cwd: sandbox.root,
    dot: true,
    ignore: ALWAYS_SKIPPED,
    followSymbolicLinks: false,
    onlyFiles: true,
  });
  const rules = new Map<string, Ignore>();
  for (const file of files) {
    try {
      const real = sandbox.resolve(file, { mustExist: true });
      rules.set(
        path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file),
        ignore().add(await readFile(real, 'utf8')),
      );
    } catch {
      // an unreadable or escaping .gitignore is simply not used
    }
  }
  return rules;
}

function ignored(rel: string, rules: Map<string, Ignore>): boolean {
  for (const [dir, ig] of rules) {
    if (dir === '') {
      if (ig.ignores(rel)) return true;
    } else if (rel.startsWith(`${dir}/`) && ig.ignores(rel.slice(dir.length + 1))) {
      return true;
    }
  }
  return false;
}

/** Yields `{rel, real}` (rel: relative to the sandbox root, with /) for each matching regular file. */
export async function* sandboxFiles(
  sandbox: Sandbox,
  opts: { base: string; pattern: string; signal?: AbortSignal },
): AsyncGenerator<{ rel: string; real: string }> {
  checkPattern(opts.pattern);
  const base = sandbox.resolve(opts.base, { mustExist: true });
  const rules = await gitignores(sandbox);
  const stream = fg.stream(opts.pattern, {
    cwd: base,
    dot: true,
    ignore: ALWAYS_SKIPPED,
    followSymbolicLinks: false,
    onlyFiles: true,
    absolute: true,
    suppressErrors: true,
  });
  for await (const entry of stream) {
    if (opts.signal?.aborted) return;
    const abs = String(entry);
    const rel = path.relative(sandbox.root, abs).split(path.sep).join('/');
    if (rel.startsWith('..') || ignored(rel, rules)) continue;
    let real: string;
    try {
      real = sandbox.resolve(abs, { mustExist: true });
    } catch {
      continue; // a symlink leading out of the sandbox
    }
    yield { rel, real };
  }
}
