import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { sandboxFiles } from '../files.ts';
import { defineTool } from './tool.ts';

const MAX_FILE_BYTES = 20 * 1024 * 1024;
const MAX_SHOWN_CHARS = 300;

/**
 * The file opened once, without blocking (a FIFO swapped in after the listing cannot hold a libuv
 * thread), if it is a regular text file of one link and at most MAX_FILE_BYTES; otherwise null.
 * Binary and hard-linked files (their content may belong to a file outside) are skipped.
 */
async function openText(real: string): Promise<FileHandle | null> {
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (!handle) return null;
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.nlink > 1 || stat.size > MAX_FILE_BYTES) throw new Error('skipped');
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(8192), 0, 8192, 0);
    if (buffer.subarray(0, bytesRead).includes(0)) throw new Error('binary');
    return handle;
  } catch {
    await handle.close();
    return null;
  }
}

export const grepTool = defineTool({
  name: 'grep',
  description:
    'Search the text files of the sandbox for a JavaScript regular expression, line by line, respecting .gitignore and skipping binary files. ' +
    'Answers `path:line: text` lines.',
  args: z.strictObject({
    pattern: z.string().min(1).max(1000).describe('JavaScript regular expression'),
    path: z.string().min(1).optional().describe('directory to search in; default the sandbox root'),
    glob: z.string().min(1).max(1000).optional().describe('only files matching this glob (default **/*)'),
    ignore_case: z.boolean().optional(),
    limit: z.int().min(1).max(2000).optional().describe('at most this many matching lines (default 200)'),
  }),
  async run(args, ctx) {
    let regex: RegExp;
    try {
      regex = new RegExp(args.pattern, args.ignore_case ? 'i' : '');
    } catch (err) {
      return { ok: false, output: `invalid regular expression: ${(err as Error).message}` };
    }
    const limit = args.limit ?? 200;
    const matches: string[] = [];
    let files = 0;
    outer: for await (const file of sandboxFiles(ctx.sandbox, {
      base: args.path ?? '.',
      pattern: args.glob ?? '**/*',
      signal: ctx.signal,
    })) {
      const handle = await openText(file.real);
      if (!handle) continue;
      files += 1;
      const input = handle.createReadStream({ encoding: 'utf8', start: 0, autoClose: true });
      const lines = createInterface({ input, crlfDelay: Infinity });
      let n = 0;
      try {
        for await (const line of lines) {
          n += 1;
          if (!regex.test(line)) continue;
          const shown = line.length > MAX_SHOWN_CHARS ? `${line.slice(0, MAX_SHOWN_CHARS)}[...]` : line;
          matches.push(`${file.rel}:${n}: ${shown}`);
          if (matches.length > limit) break outer;
        }
      } finally {
        lines.close();
        input.destroy();
      }
    }
    if (matches.length === 0) return { ok: true, output: `no matches in ${files} files` };
    const capped = matches.length > limit;
    return {
      ok: true,
      output: matches.slice(0, limit).join('\n') + (capped ? `\n[more than ${limit} matches; narrow the search]` : ''),
    };
  },
});
