import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The PostgreSQL client tools a DATABASE_URL backup needs, found on the PATH or in Debian's versioned dirs. */
export type ClientTool = 'pg_dump' | 'pg_restore';

export interface FoundTool {
  path: string;
  major: number;
}

function candidates(tool: ClientTool): string[] {
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((d) => path.join(d, tool));
  // Debian/Ubuntu install every major side by side; the PATH's wrapper may pick an older one
  let majors: string[] = [];
  try {
    majors = readdirSync('/usr/lib/postgresql').filter((name) => /^\d+$/.test(name));
  } catch {
    // not Debian
  }
  const debian = majors.map((m) => path.join('/usr/lib/postgresql', m, 'bin', tool));
  return [...onPath, ...debian].filter((p) => existsSync(p));
}

async function majorOf(bin: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(bin, ['--version'], { timeout: 10_000 });
    const m = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function installHint(major: number): string {
  return (
    `install PostgreSQL ${major} client tools (Debian/Ubuntu: apt-get install postgresql-client-${major}, ` +
    `from apt.postgresql.org when your release lacks it; macOS: brew install postgresql@${major}) and run it again`
  );
}

/**
 * The newest `tool` whose major version is at least the server's (pg_dump refuses an older client's
 * dump of a newer server, and a newer client reads every older server). A clear sentence otherwise.
 */
export async function findClientTool(tool: ClientTool, serverMajor: number): Promise<FoundTool> {
  const paths = candidates(tool);
  const found: FoundTool[] = [];
  for (const p of new Set(paths)) {
    const major = await majorOf(p);
    if (major !== undefined) found.push({ path: p, major });
  }
  const fit = found.filter((f) => f.major >= serverMajor).sort((a, b) => b.major - a.major)[0];
  if (fit) return fit;
  const seen = found.length
    ? `only ${[...new Set(found.map((f) => `${tool} ${f.major}`))].join(', ')} was found, older than the server`
    : `no ${tool} was found on the PATH or in /usr/lib/postgresql`;
  throw new Error(`your Postgres is version ${serverMajor} and ${seen}; ${installHint(serverMajor)}`);
}
