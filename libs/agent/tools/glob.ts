import { z } from 'zod';
import { sandboxFiles } from '../files.ts';
import { defineTool } from './tool.ts';

export const globTool = defineTool({
  name: 'glob',
  description:
    'List files of the sandbox matching a glob pattern (e.g. `**/*.ts`), respecting .gitignore. Paths are relative to the sandbox.',
  args: z.strictObject({
    pattern: z.string().min(1).max(1000),
    path: z.string().min(1).optional().describe('directory to search in; default the sandbox root'),
    limit: z.int().min(1).max(5000).optional().describe('at most this many paths (default 500)'),
  }),
  async run(args, ctx) {
    const limit = args.limit ?? 500;
    const found: string[] = [];
    let more = false;
    for await (const file of sandboxFiles(ctx.sandbox, {
      base: args.path ?? '.',
      pattern: args.pattern,
      signal: ctx.signal,
    })) {
      if (found.length >= limit) {
        more = true;
        break;
      }
      found.push(file.rel);
    }
    found.sort();
    if (found.length === 0) return { ok: true, output: `no files match ${args.pattern}` };
    return {
      ok: true,
      output: found.join('\n') + (more ? `\n[more than ${limit} files match; narrow the pattern]` : ''),
    };
  },
});
