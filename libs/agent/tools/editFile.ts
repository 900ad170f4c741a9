import { z } from 'zod';
import { defineTool } from './tool.ts';

function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) count += 1;
  return count;
}

export const editFileTool = defineTool({
  name: 'edit_file',
  description:
    'Replace an exact string in a file of the sandbox. `old_string` must occur exactly once (include surrounding lines to make it unique); ' +
    'the edit fails and says how many times it occurred otherwise.',
  args: z.strictObject({
    path: z.string().min(1),
    old_string: z.string().min(1),
    new_string: z.string(),
  }),
  async run(args, ctx) {
    const { handle, real } = await ctx.sandbox.openForWrite(args.path, { create: false });
    try {
      const text = (await handle.readFile()).toString('utf8');
      const count = occurrences(text, args.old_string);
      if (count !== 1) {
        return {
          ok: false,
          output: `edit_file: old_string occurs ${count} times in ${ctx.sandbox.relative(real)}; it must occur exactly once. Nothing was changed.`,
        };
      }
      const next = text.replace(args.old_string, () => args.new_string);
      await handle.truncate(0);
      await handle.write(next, 0, 'utf8');
      return { ok: true, output: `edited ${ctx.sandbox.relative(real)}: replaced 1 occurrence` };
    } finally {
      await handle.close();
    }
  },
});
