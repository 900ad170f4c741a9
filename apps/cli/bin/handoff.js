#!/usr/bin/env node
// Launcher for `handoff` (npx handoff, npm link, a global install). handoff is TypeScript run
// directly by Node 24; an older `node` on PATH re-executes the repository's pinned Node 24
// (node_modules/.bin/node) on src/main.ts, forwarding arguments, stdio, signals and exit code.
import { spawn } from 'node:child_process';
import process from 'node:process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(realpathSync(fileURLToPath(import.meta.url)));
const mainTs = join(here, '..', 'src', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  const { main } = await import(pathToFileURL(mainTs).href);
  await main(process.argv);
} else {
  const repoRoot = join(here, '..', '..', '..');
  const node24 = join(repoRoot, 'node_modules', '.bin', process.platform === 'win32' ? 'node.cmd' : 'node');
  if (!existsSync(node24)) {
    process.stderr.write(
      `handoff: needs Node.js 24 or newer (this is ${process.version}) and found no pinned Node at ${node24}. ` +
        `Run \`npm install\` in ${repoRoot}.\n`,
    );
    process.exit(1);
  }
  const child = spawn(node24, [mainTs, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A terminal's Ctrl-C reaches the child through the process group already: only wait for it.
  // SIGTERM and SIGHUP are usually sent to this process alone: pass them on (the child ignores a
  // repeat of the same signal within a second, so a signal sent to the whole group is not doubled).
  const forward = (signal) => {
    if (signal !== 'SIGINT' && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward);
  child.on('error', (err) => {
    process.stderr.write(`handoff: cannot run ${node24}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeAllListeners(s);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}
