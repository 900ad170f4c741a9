import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./dbChild.ts', import.meta.url));

/** Spawns test/support/dbChild.ts (a second process for the db and embedded Postgres tests) and resolves with its first stdout line, parsed. */
export function spawnDbChild(args: string[]): {
  child: ReturnType<typeof spawn>;
  line: Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    });
    void exit.then((code) => reject(new Error(`child exited (${code}) before printing: ${err}`)));
  });
  return { child, line, exit };
}
