import { z } from 'zod';
import { defineTool } from './tool.ts';

export const writeFileTool = defineTool({
  name: 'write_file',
  description: 'Create or overwrite a text file in the sandbox with `content`. Missing parent directories are created.',
  args: z.strictObject({
    path: z.string().min(1),
    content: z.string().max(16 * 1024 * 1024),
  }),
  async run(args, ctx) {
    const { handle, real } = await ctx.sandbox.openForWrite(args.path, { create: true });
    try {
      // Truncate only now: openForWrite has refused hard-linked files before anything changed.
      await handle.truncate(0);
      await handle.write(args.content, 0, 'utf8');
    } finally {
      await handle.close();
    }
    return { ok: true, output: `wrote ${Buffer.byteLength(args.content)} bytes to ${ctx.sandbox.relative(real)}` };
  },
});
