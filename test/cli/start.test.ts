import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/ports.ts';
import { removeHome } from '../support/removeHome.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  home: string;
  port: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Seconds from spawn to the first healthy /healthz. */
  healthyAfter: number;
}

/**
 * Runs `handoff start` (what `npm start` runs) with no DATABASE_URL and a fresh HANDOFF_HOME, and
 * waits for /healthz. `detached`: the child leads a process group, as a shell's foreground job does.
 */
async function startHandoff(detached: boolean): Promise<Started> {
  const home = mkdtempSync(join(tmpdir(), 'handoff-start-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, HANDOFF_HOME: home, HANDOFF_PORT: String(port) };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  const started = Date.now();
  const child = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), 'start'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  while (Date.now() - started < 30_000 && child.exitCode === null) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    if (res?.ok)
      return { home, port, child, output: () => output, exited, healthyAfter: (Date.now() - started) / 1000 };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  removeHome(home);
  throw new Error(`no healthy /healthz within 30 s:\n${output}`);
}

test(
  'npm start with no Postgres anywhere serves /healthz within 30 s and stops cleanly',
  { timeout: 90_000 },
  async () => {
    const h = await startHandoff(false);
    try {
      process.stdout.write(
        `# /healthz answered ${h.healthyAfter.toFixed(1)} s after start, embedded Postgres initialised from nothing\n`,
      );
      assert.match(h.output(), /embedded/i, 'says it runs an embedded Postgres');
    } finally {
      h.child.kill('SIGINT');
      assert.equal(await h.exited, 0, h.output());
      removeHome(h.home);
    }
  },
);

test(
  'Ctrl-C in a terminal (SIGINT to the whole process group) stops `handoff start` cleanly, Postgres last',
  { timeout: 90_000 },
  async () => {
    const { home, port, child, output, exited } = await startHandoff(true);
    try {
      // some work first, so that the pools hold connections when the signal comes
      const token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const created = await fetch(`http://127.0.0.1:${port}/v1/intents`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ channel: 'noop', idempotencyKey: 'ctrl-c', payload: {} }),
      });
      assert.equal(created.status, 201);
      await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch(`http://127.0.0.1:${port}/v1/live`, { headers: auth }).then((r) => r.text()),
        ),
      );
      const before = output().length;
      process.kill(-child.pid!, 'SIGINT'); // what the terminal does on Ctrl-C
      assert.equal(await exited, 0, output());
      const shutdown = output().slice(before);
      assert.doesNotMatch(
        shutdown,
        /internal error|terminating connection|"level":(40|50)/,
        `shutdown was not clean:\n${shutdown}`,
      );
      // Postgres stopped cleanly, and by handoff: a clean shutdown removes its pid file
      assert.equal(existsSync(join(home, 'pg', 'postmaster.pid')), false, 'Postgres is still running');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      removeHome(home);
    }
  },
);
