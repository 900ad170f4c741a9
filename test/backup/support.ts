import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { main } from '../cli/run.ts';
import type { Run } from '../cli/run.ts';
import { freePort } from '../support/ports.ts';

/** The CLI as a child process; backups and restores of a cluster take longer than run.ts's 30 s on a busy machine. */
export function handoff(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    NODE_TEST_CONTEXT: undefined,
    HANDOFF_TOKEN: undefined,
    ...env,
  };
  for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined) delete childEnv[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: childEnv as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh HANDOFF_HOME in the temp dir (remove it with removeHome). */
export function newHome(tag: string): string {
  return mkdtempSync(join(tmpdir(), `handoff-backup-${tag}-`));
}

/** Environment for a CLI child on `home`'s embedded Postgres: never the suite's DATABASE_URL. */
export function homeEnv(home: string, extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { HANDOFF_HOME: home, DATABASE_URL: undefined, ...extra };
}

export interface Running {
  home: string;
  url: string;
  token: string;
  child: ChildProcess;
  output(): string;
  /** The embedded Postgres's `handoff` database, as pg.json says. */
  dbUrl(): string;
  createIntent(key: string): Promise<string>;
  stop(): Promise<void>;
}

/** `handoff start` on `home` (embedded Postgres, coordinator, one executor), waited for until healthy. */
export async function startHandoff(home: string): Promise<Running> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, HANDOFF_HOME: home, HANDOFF_PORT: String(port) };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  delete env.HANDOFF_TOKEN;
  const child = spawn(process.execPath, [main, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 240_000;
  for (;;) {
    const res = await fetch(`${url}/healthz`).catch(() => null);
    if (res?.ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`handoff start on ${home} did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    home,
    url,
    token,
    child,
    output: () => output,
    dbUrl() {
      const cfg = JSON.parse(readFileSync(join(home, 'pg.json'), 'utf8')) as { port: number; password: string };
      return `postgres://postgres:${encodeURIComponent(cfg.password)}@127.0.0.1:${cfg.port}/handoff`;
    },
    async createIntent(key) {
      const res = await fetch(`${url}/v1/intents`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ channel: 'noop', idempotencyKey: key, payload: { key } }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 && res.status !== 200)
        throw new Error(`create ${key}: ${res.status} ${JSON.stringify(body)}`);
      return body.id!;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const code = await exited;
      if (code !== 0) throw new Error(`handoff start exited ${code}:\n${output}`);
    },
  };
}

export interface IntentRow {
  id: string;
  key: string;
  state: string;
  payload_hash: string;
  receipts: { id: string; kind: string; external_id: string | null; executor_id: string | null }[];
}

/** Every intent with its receipts, by id. */
export async function intentsWithReceipts(dbUrl: string): Promise<Map<string, IntentRow>> {
  const client = new pg.Client({ connectionString: dbUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<IntentRow>(
      `SELECT i.id, i.idempotency_key AS key, i.state, i.payload_hash,
         coalesce(json_agg(json_build_object('id', r.id::text, 'kind', r.kind, 'external_id', r.external_id,
           'executor_id', r.executor_id) ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '[]') AS receipts
       FROM intents i LEFT JOIN receipts r ON r.intent_id = i.id GROUP BY i.id`,
    );
    return new Map(rows.map((r) => [r.id, r]));
  } finally {
    await client.end().catch(() => {});
  }
}

export async function query<T extends pg.QueryResultRow>(
  dbUrl: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Until `check` holds, or fail after `ms` with what it last saw. */
export async function eventually(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
