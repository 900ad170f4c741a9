import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startRecordingSink } from '../support/recordingSink.ts';
import { apiClient, onOutputLines } from '../support/lines.ts';
import { removeHome } from '../support/removeHome.ts';
import { waitFor } from '../support/stack.ts';
import { report, sleep } from './support.ts';

/**
 * The embedded Postgres of a real `handoff start` is killed with SIGKILL under load (the OOM
 * killer, a crash): handoff restarts it by itself, every intent ends exactly once, and /healthz
 * comes back to 200. When Postgres cannot come back, the process exits non-zero, promptly, with
 * one line saying why, so that its service manager restarts it.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = 2;

async function isFree(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A free port outside the embedded default (18832) and the kernel's ephemeral range, so that no other Postgres takes it while ours is down. */
async function quietPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (await isFree(port)) return port;
  }
}

/** Exited: no such process, or a zombie (its parent, the killed postmaster, is gone; init reaps it when it gets to it). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

interface Handoff {
  home: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  baseUrl: string;
  api: ReturnType<typeof apiClient>;
  /** The postmaster's pid, from its lock file in the data dir. */
  postmasterPid(): number;
  /** A direct connection to the `handoff` database (the password is in pg.json). */
  query<T extends pg.QueryResultRow>(text: string): Promise<T[]>;
}

/** Runs `handoff start` as a service manager would: fresh HANDOFF_HOME, embedded Postgres, no DATABASE_URL. */
async function startHandoff(policy: unknown): Promise<Handoff> {
  const home = mkdtempSync(join(tmpdir(), 'handoff-chaos-pgkill-'));
  const pgPort = await quietPort();
  const password = `chaos-${Math.random().toString(36).slice(2)}`;
  // the port the embedded server is made on (a fresh cluster takes its port and password from here)
  writeFileSync(join(home, 'pg.json'), JSON.stringify({ port: pgPort, password }), { mode: 0o600 });
  writeFileSync(join(home, 'policy.json'), JSON.stringify(policy));
  const port = await quietPort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HANDOFF_HOME: home,
    HANDOFF_PORT: String(port),
    HANDOFF_SWEEP_MS: '250',
    HANDOFF_HEARTBEAT_MS: '500',
    HANDOFF_LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), 'start'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  onOutputLines([child.stdout, child.stderr], (line) => output.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    // running: the coordinator answers and the executor has started too
    await waitFor(
      'handoff start to be running',
      async () => {
        if (child.exitCode !== null) throw new Error(`handoff start exited ${child.exitCode}:\n${output.join('\n')}`);
        return (
          output.some((l) => l.includes('handoff is running')) &&
          (await fetch(`${baseUrl}/healthz`).catch(() => null))?.ok
        );
      },
      90_000,
      200,
    );
  } catch (err) {
    child.kill('SIGKILL');
    removeHome(home);
    throw err;
  }
  const token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
  const dbUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/handoff`;
  return {
    home,
    child,
    output,
    exited,
    baseUrl,
    api: apiClient(baseUrl, token),
    postmasterPid: () => Number.parseInt(readFileSync(join(home, 'pg', 'postmaster.pid'), 'utf8'), 10),
    async query<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
      const client = new pg.Client({ connectionString: dbUrl });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<T>(text)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

async function stopHandoff(h: Handoff): Promise<void> {
  if (h.child.exitCode === null && h.child.signalCode === null) {
    h.child.kill('SIGINT');
    const timer = setTimeout(() => h.child.kill('SIGKILL'), 30_000);
    await h.exited;
    clearTimeout(timer);
  }
  removeHome(h.home);
}

async function health(h: Handoff): Promise<number> {
  return (await fetch(`${h.baseUrl}/healthz`, { signal: AbortSignal.timeout(5000) }).catch(() => null))?.status ?? -1;
}

/** Creates intents with 4 clients until stopped; a 503 or a broken connection is retried with the same key, as a client would. */
function steadyCreator(h: Handoff, make: (key: string) => Record<string, unknown>) {
  let running = true;
  let next = 0;
  const created = new Set<string>();
  const unexpected: string[] = [];
  let retried = 0;
  const workers = Array.from({ length: 4 }, async () => {
    while (running) {
      const key = `pgk-${next++}`;
      for (;;) {
        const res = await h
          .api('POST', '/v1/intents', make(key))
          .catch((err: unknown) => ({ status: -1, body: String(err) }));
        if (res.status === 200 || res.status === 201) {
          created.add(key);
          break;
        }
        if (res.status === 503 || res.status === -1) retried++;
        else unexpected.push(`${res.status} ${JSON.stringify(res.body)}`);
        await sleep(100);
      }
      await sleep(10);
    }
  });
  return {
    created,
    unexpected,
    retried: () => retried,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

test('Postgres SIGKILLed under load: handoff restarts it, every intent ends exactly once, /healthz back to 200', async () => {
  const sink = await startRecordingSink({ script: () => ({ delayMs: 20 }) });
  const h = await startHandoff({
    approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
    lease: { ttlSeconds: 3 },
    retry: { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 2000 },
    webhook: { allowedHosts: [`127.0.0.1:${sink.port}`] },
  });
  let creator: ReturnType<typeof steadyCreator> | undefined;
  try {
    const started = Date.now();
    creator = steadyCreator(h, (key) => ({
      channel: 'webhook',
      idempotencyKey: key,
      payload: { url: `${sink.url}/pgk`, body: { key }, statusUrl: sink.statusUrl },
    }));
    const recoveries: { healthzMs: number; effectsMs: number }[] = [];
    const pids: number[] = [h.postmasterPid()];
    let frozen = 0;
    for (let round = 0; round < KILLS; round++) {
      const before = sink.requests.length;
      await waitFor('work to flow before the kill', async () => sink.requests.length >= before + 150, 120_000, 50);
      const victim = h.postmasterPid();
      if (round === KILLS - 1) {
        // the last time, one of handoff's backends is frozen first: it cannot notice its postmaster's
        // death and stays attached to the old shared memory, which blocks a new server until it is gone
        const [row] = await h.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'handoff%' AND pid <> pg_backend_pid() LIMIT 1",
        );
        assert.ok(row, 'handoff has a backend');
        frozen = row.pid;
        process.kill(frozen, 'SIGSTOP');
      }
      process.kill(victim, 'SIGKILL');
      const killedAt = Date.now();
      await waitFor('/healthz to report the outage', async () => (await health(h)) === 503, 10_000, 20).catch(
        () => undefined,
      );
      await waitFor('/healthz to answer 200 again', async () => (await health(h)) === 200, 60_000, 50);
      const healthzMs = Date.now() - killedAt;
      const atUp = sink.requests.length;
      await waitFor('a new effect to reach the receiver', async () => sink.requests.length > atUp, 60_000, 20);
      recoveries.push({ healthzMs, effectsMs: Date.now() - killedAt });
      const pid = h.postmasterPid();
      assert.notEqual(pid, victim, 'a new postmaster runs');
      pids.push(pid);
    }
    assert.ok(gone(frozen), 'the frozen backend was killed before the restart');
    assert.ok(
      h.output.some((l) => l.includes(`Postgres process(es) left by the dead server`) && l.includes(String(frozen))),
      'and that was logged',
    );
    await sleep(1000);
    await creator.stop();
    assert.deepEqual(creator.unexpected, [], 'every create answered 2xx, or 503 while Postgres was down');

    const total = creator.created.size;
    const counts = async (): Promise<Record<string, number>> =>
      Object.fromEntries(
        (await h.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM intents GROUP BY state')).map(
          (r) => [r.state, Number(r.n)],
        ),
      );
    await waitFor(
      'every intent to end',
      async () => {
        const c = await counts();
        return (c.succeeded ?? 0) + (c.in_doubt ?? 0) + (c.dead ?? 0) === total;
      },
      180_000,
      250,
    );

    const rows = await h.query<{ idempotency_key: string; state: string }>(
      'SELECT idempotency_key, state FROM intents',
    );
    const inDb = new Map(rows.map((r) => [r.idempotency_key, r.state]));
    assert.deepEqual(
      [...creator.created].filter((k) => !inDb.has(k)),
      [],
      'every create answered 2xx has its row',
    );
    assert.equal(inDb.size, total, 'no row beyond the creates answered 2xx');
    const sinkCounts = sink.countByKey();
    const twice = [...sinkCounts.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no key reached the receiver twice');
    const succeeded = [...inDb].filter(([, s]) => s === 'succeeded').map(([k]) => k);
    assert.deepEqual(
      succeeded.filter((k) => sinkCounts.get(k) !== 1),
      [],
      'every succeeded key reached the receiver exactly once',
    );
    const states = await counts();
    assert.equal(states.dead ?? 0, 0, 'nothing dead: the receiver never refused');
    assert.equal(
      (states.succeeded ?? 0) + (states.in_doubt ?? 0),
      total,
      'every intent succeeded or, at most, is in doubt (never delivered twice)',
    );

    // the LISTEN connections came back: a gate closed now is heard by the executor
    const mark = h.output.length;
    assert.equal(
      (await h.api('PUT', '/v1/gates/pgk-probe', { enabled: false, reason: 'listen check', force: true })).status,
      200,
    );
    await waitFor(
      'the executor to hear the gate change',
      async () => h.output.slice(mark).some((l) => l.includes('gates changed') && l.includes('pgk-probe')),
      30_000,
      50,
    );
    assert.equal((await h.api('PUT', '/v1/gates/pgk-probe', { enabled: true })).status, 200);
    // and the heartbeat writes again (the executor is not shown stale)
    const beat = async (): Promise<number> =>
      Number(
        (
          await h.query<{ ms: string }>(
            'SELECT extract(epoch FROM clock_timestamp() - max(heartbeat_at)) * 1000 AS ms FROM executors',
          )
        )[0]?.ms ?? Infinity,
      );
    await waitFor('a fresh executor heartbeat', async () => (await beat()) < 2000, 10_000, 100);

    // the same process throughout: handoff restarted Postgres, nobody restarted handoff
    assert.equal(h.child.exitCode, null, h.output.slice(-30).join('\n'));
    const restarts = h.output.filter((l) => l.includes('embedded Postgres is back'));
    assert.equal(restarts.length, KILLS, `one restart logged per kill:\n${restarts.join('\n')}`);
    assert.equal(await health(h), 200);

    report('postgres-killed', {
      intents: total,
      kills: KILLS,
      leftover_backends_killed: h.output.filter((l) => l.includes('Postgres process(es) left by the dead server'))
        .length,
      creates_retried: creator.retried(),
      healthz_back_ms: recoveries.map((r) => r.healthzMs).join(','),
      effects_back_ms: recoveries.map((r) => r.effectsMs).join(','),
      succeeded: states.succeeded ?? 0,
      in_doubt: states.in_doubt ?? 0,
      dead: states.dead ?? 0,
      keys_twice: twice.length,
      reconciles: sink.statusChecks(),
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });

    // and it still stops cleanly, the restarted Postgres last
    h.child.kill('SIGINT');
    assert.equal(await h.exited, 0, h.output.slice(-30).join('\n'));
    assert.throws(
      () => readFileSync(join(h.home, 'pg', 'postmaster.pid')),
      'the restarted Postgres was stopped with handoff',
    );
  } finally {
    await creator?.stop().catch(() => undefined);
    await stopHandoff(h);
    await sink.close();
  }
});

test('Postgres that cannot come back: handoff exits 1 within a minute, saying why in one line', async () => {
  const h = await startHandoff({});
  const dataDir = realpathSync(join(h.home, 'pg'));
  try {
    // Postgres refuses a data directory others may write to: every restart attempt fails
    chmodSync(dataDir, 0o777);
    const killedAt = Date.now();
    process.kill(h.postmasterPid(), 'SIGKILL');
    const timer = setTimeout(() => h.child.kill('SIGKILL'), 90_000);
    const code = await h.exited;
    clearTimeout(timer);
    const seconds = (Date.now() - killedAt) / 1000;
    const out = h.output.join('\n');
    assert.equal(code, 1, out.slice(-3000));
    assert.ok(seconds < 60, `exited ${seconds.toFixed(1)} s after the kill`);
    const line = h.output.find((l) => l.startsWith('handoff: the embedded Postgres died and could not be restarted'));
    assert.ok(line, `one clear line on stderr:\n${out.slice(-3000)}`);
    assert.match(line, /permissions/, "it names Postgres's reason");
    assert.match(line, /service manager restarts handoff/);
    const attempts = h.output.filter((l) => l.includes('embedded Postgres restart attempt'));
    assert.ok(attempts.length >= 2, `restart attempts are logged:\n${attempts.join('\n')}`);
    report('postgres-unrecoverable', {
      exit_code: String(code),
      exit_after_s: seconds.toFixed(1),
      restart_attempts: attempts.length,
    });
  } finally {
    chmodSync(dataDir, 0o700);
    await stopHandoff(h);
  }
});
