import fsp from 'node:fs/promises';

/** The cluster's superuser, and the OS user Postgres runs as when handoff runs as root. */
export const SUPERUSER = 'postgres';
export const EMBEDDED_DATABASE = 'handoff';
export const DEFAULT_EMBEDDED_PORT = 18832;

/** `${home}/pg.json`: the port the server was last given and the superuser's password. */
export interface PgConfig {
  port: number;
  password: string;
}

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export async function readConfig(file: string): Promise<PgConfig | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<PgConfig>;
  if (typeof parsed.port !== 'number' || typeof parsed.password !== 'string' || parsed.password === '') {
    throw new Error(`${file} is malformed: expected {"port": number, "password": string}`);
  }
  return { port: parsed.port, password: parsed.password };
}

export async function writeConfig(file: string, cfg: PgConfig): Promise<void> {
  // Write then rename, so a crash never leaves a half-written password behind.
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

export function urlFor(port: number, password: string, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}
