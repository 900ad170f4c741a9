import { createRequire } from 'node:module';
import { Language, Parser } from 'web-tree-sitter';
import type { Tree } from 'web-tree-sitter';

/**
 * tree-sitter-bash through web-tree-sitter (WASM, no native build). The runtime and the grammar
 * load once per process; every later parse reuses the same parser.
 */

const require = createRequire(import.meta.url);
let ready: Promise<Parser> | undefined;

function load(): Promise<Parser> {
  ready ??= (async () => {
    await Parser.init();
    const bash = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
    const parser = new Parser();
    parser.setLanguage(bash);
    return parser;
  })().catch((err: unknown) => {
    ready = undefined; // a failed load may be retried (it is not cached as a rejection)
    throw err;
  });
  return ready;
}

/** The shared bash parser; parsing with it is synchronous. */
export function bashParser(): Promise<Parser> {
  return load();
}

/** Parse one bash script. The caller must `tree.delete()` when done (WASM memory is not collected). */
export function parseWith(parser: Parser, source: string): Tree {
  const tree = parser.parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}

/** Start loading early (the agent loop may call this at start-up). */
export function warmUpParser(): Promise<void> {
  return load().then(() => undefined);
}
