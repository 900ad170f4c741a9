/**
 * `handoff coordinator --listen ADDR` as an operator runs it: HTTPS only on ADDR, the embedded
 * Postgres there with TLS, the CA's fingerprint printed for `handoff login`, and the same
 * certificate again after a restart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fingerprint } from '@handoff/tls';
import { main } from '../cli/run.ts';
import { freePort } from '../support/ports.ts';
import { removeHome } from '../support/removeHome.ts';

const ADDR = '127.0.0.2';
const homes: string[] = [];
after(() => {
  for (const home of homes) removeHome(home);
});

function get(url: string, ca?: string): Promise<number> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { agent: false, timeout: 3_000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

async function startCoordinator(home: string, port: number): Promise<Running> {
  const env: NodeJS.ProcessEnv = { ...process.env, HANDOFF_HOME: home, HANDOFF_PORT: String(port) };
  delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [main, 'coordinator', '--listen', ADDR], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (output.includes('is running')) return { child, output: () => output, exited };
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error(`handoff coordinator --listen did not come up:\n${output}`);
}

async function stop(running: Running): Promise<void> {
  running.child.kill('SIGINT');
  assert.equal(await running.exited, 0, running.output());
}

test(
  'handoff coordinator --listen serves HTTPS only, prints the CA fingerprint, and keeps its certificate across restarts',
  { timeout: 180_000 },
  async () => {
    const home = mkdtempSync(join(tmpdir(), 'handoff-listen-'));
    homes.push(home);
    const port = await freePort();
    const first = await startCoordinator(home, port);
    let caFingerprint: string;
    let serverCert: string;
    try {
      const ca = readFileSync(join(home, 'tls', 'ca.pem'), 'utf8');
      caFingerprint = fingerprint(ca);
      serverCert = readFileSync(join(home, 'tls', 'server.pem'), 'utf8');
      assert.ok(first.output().includes(`https://${ADDR}:${port}`), first.output());
      assert.ok(first.output().includes(caFingerprint), 'the start-up summary shows the fingerprint to pin');
      assert.match(first.output(), /handoff login/);
      assert.equal(await get(`https://${ADDR}:${port}/healthz`, ca), 200);
      await assert.rejects(get(`http://${ADDR}:${port}/healthz`));
      await assert.rejects(get(`https://${ADDR}:${port}/healthz`), /certificate/i);
      // nothing on loopback: the API listens on ADDR only
      await assert.rejects(get(`https://127.0.0.1:${port}/healthz`, ca), { code: 'ECONNREFUSED' });
    } finally {
      await stop(first);
    }

    const second = await startCoordinator(home, port);
    try {
      assert.equal(readFileSync(join(home, 'tls', 'server.pem'), 'utf8'), serverCert, 'the same certificate');
      assert.ok(second.output().includes(caFingerprint));
    } finally {
      await stop(second);
    }
  },
);
