import { z } from 'zod';
import { defineTool } from './tool.ts';

const MAX_BYTES = 4 * 1024 * 1024;
const MAX_LINE_CHARS = 4000;

export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Read a text file in the sandbox. Optional `offset` (first line, 1-based) and `limit` (number of lines, default 2000).',
  args: z.strictObject({
    path: z.string().min(1).describe('file path, relative to the sandbox (or absolute inside it)'),
    offset: z.int().min(1).optional(),
    limit: z.int().min(1).max(10_000).optional(),
  }),
  async run(args, ctx) {
    const { handle } = await ctx.sandbox.openForRead(args.path);
    let text: string;
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) return { ok: false, output: `${args.path}: not a regular file` };
      if (stat.size > MAX_BYTES)
        return {
          ok: false,
          output: `${args.path}: ${stat.size} bytes, larger than ${MAX_BYTES}; read it with bash (head, sed -n) instead`,
        };
      const buf = await handle.readFile();
      if (buf.subarray(0, 8192).includes(0))
        return { ok: false, output: `${args.path}: binary file (${buf.length} bytes)` };
      text = buf.toString('utf8');
    } finally {
      await handle.close();
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const start = (args.offset ?? 1) - 1;
    const limit = args.limit ?? 2000;
    const slice = lines
      .slice(start, start + limit)
      .map((l) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)}[... line cut]` : l));
    const more =
      start + slice.length < lines.length
        ? `\n[lines ${start + 1}-${start + slice.length} of ${lines.length}; use offset to read more]`
        : '';
    if (start >= lines.length && lines.length > 0)
      return { ok: false, output: `${args.path}: has ${lines.length} lines; offset ${start + 1} is past the end` };
    return { ok: true, output: slice.join('\n') + (slice.length > 0 ? '\n' : '') + more };
  },
});
