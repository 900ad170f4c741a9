import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { detectIsolation, sandboxExecProfile, type Isolation } from './isolation.ts';
import { runInProcessGroup } from './processGroup.ts';

/** Pids of live, non-zombie processes whose command line contains `marker` (host-wide). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker) && !/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** `sleep <marker>` itself, not a wrapper whose arguments contain the marker too. */
function sleepersWith(marker: string): number[] {
  return processesWith(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0');
    } catch {
      return false;
    }
  });
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('unshare isolation', () => {
  // Outside /tmp on purpose: /tmp is replaced by a tmpfs in the sandbox, so a home under it would be
  // hidden for free; here $HANDOFF_HOME's own tmpfs and the sandbox inside it are exercised.
  const base = realpathSync(mkdtempSync('/var/tmp/handoff-isolation-'));
  const home = join(base, 'home');
  const box = join(home, 'workspace');
  const outside = join(base, 'outside');
  let server: Server;
  let port = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  let isolation: Isolation;
  let unavailable = '';

  before(async () => {
    mkdirSync(box, { recursive: true });
    mkdirSync(join(box, 'sub'));
    mkdirSync(outside);
    writeFileSync(join(home, 'secrets.json'), '{"token":"s3cret"}');
    writeFileSync(join(outside, 'readable.txt'), 'public\n');
    server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    isolation = detectIsolation({ mode: 'unshare', network: false, sandboxRoot: box, handoffHome: home });
    if (isolation.level !== 'unshare') unavailable = `unshare is not usable here: ${isolation.detail}`;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(base, { recursive: true, force: true });
  });

  async function run(command: string, iso = isolation, cwd = box): Promise<{ exitCode: number | null; output: string }> {
    const result = await runInProcessGroup({
      invocation: iso.wrap({ command, cwd, sandboxRoot: box, handoffHome: home }),
      cwd,
      env: { PATH: process.env.PATH, HOME: box, LANG: 'C' },
      timeoutMs: 60_000,
      outputLimitBytes: 64 * 1024,
      killGraceMs: 500,
      signal: new AbortController().signal,
    });
    return { exitCode: result.exitCode, output: result.output };
  }

  test('health detail says what the level gives', (t) => {
    if (unavailable) return t.skip(unavailable);
    assert.match(isolation.detail, /read-only \/, writable sandbox/);
    assert.match(isolation.detail, /network off/);
  });

  test('a command writes inside the sandbox (root and working directory), nowhere else', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const inside = await run('echo in > a.txt && echo sub > sub/b.txt && pwd');
    assert.equal(inside.exitCode, 0, inside.output);
    assert.equal(readFileSync(join(box, 'a.txt'), 'utf8'), 'in\n');
    assert.equal(readFileSync(join(box, 'sub', 'b.txt'), 'utf8'), 'sub\n');
    const inSub = await run('pwd; echo deeper > c.txt', isolation, join(box, 'sub'));
    assert.equal(inSub.exitCode, 0, inSub.output);
    assert.equal(inSub.output.split('\n')[0], join(box, 'sub'));
    assert.equal(readFileSync(join(box, 'sub', 'c.txt'), 'utf8'), 'deeper\n');

    const escape = await run(`echo pwned > ${join(outside, 'new.txt')}`);
    assert.notEqual(escape.exitCode, 0);
    assert.match(escape.output, /Read-only file system/);
    assert.equal(existsSync(join(outside, 'new.txt')), false);
    // what the command can read outside stays readable (like bubblewrap's read-only /)
    assert.equal((await run(`cat ${join(outside, 'readable.txt')}`)).output, 'public\n');
    // /tmp is a fresh tmpfs: writable, gone afterwards, and not the host's /tmp
    const marker = `handoff-isolation-${process.pid}-${Date.now()}`;
    const tmp = await run(`echo t > /tmp/${marker} && cat /tmp/${marker}`);
    assert.equal(tmp.output, 't\n');
    assert.equal(existsSync(`/tmp/${marker}`), false);
  });

  test('$HANDOFF_HOME is hidden: its files are not there, the sandbox inside it is', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const look = await run(`ls -A ${home}; cat ${join(home, 'secrets.json')}`);
    assert.equal(look.output.split('\n')[0], 'workspace');
    assert.doesNotMatch(look.output, /s3cret/);
    assert.match(look.output, /No such file or directory/);
  });

  test('no network: a TCP connect to a server on 127.0.0.1 fails; network: true lets it through', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const connect = `echo hi > /dev/tcp/127.0.0.1/${port}`;
    const before = connections;
    const blocked = await run(connect);
    assert.notEqual(blocked.exitCode, 0, blocked.output);
    assert.equal(connections, before);

    const open = detectIsolation({ mode: 'unshare', network: true, sandboxRoot: box, handoffHome: home });
    assert.equal(open.level, 'unshare', open.detail);
    assert.match(open.detail, /network shared/);
    const allowed = await run(connect, open);
    assert.equal(allowed.exitCode, 0, allowed.output);
    await waitFor('the server to see the connection', () => connections > before);
  });

  test('own PID namespace: the command sees only its own processes', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const ps = await run('ls /proc | grep -c "^[0-9]"');
    assert.equal(ps.exitCode, 0, ps.output);
    assert.ok(Number(ps.output.trim()) < 10, ps.output);
  });

  test('a stop in the middle of a long command kills the whole tree, even a process that left the group', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const marker = `7${process.pid}${Date.now() % 100000}`;
    const controller = new AbortController();
    const running = runInProcessGroup({
      invocation: isolation.wrap({ command: `setsid sleep 5${marker} & sleep 3${marker} & sleep 4${marker}; wait`, cwd: box, sandboxRoot: box, handoffHome: home }),
      cwd: box,
      env: { PATH: process.env.PATH },
      timeoutMs: 120_000,
      outputLimitBytes: 1024,
      killGraceMs: 500,
      signal: controller.signal,
    });
    await waitFor('the three sleeps to run', () => [3, 4, 5].every((n) => sleepersWith(`${n}${marker}`).length > 0));
    controller.abort();
    const result = await running;
    assert.equal(result.aborted, true);
    await waitFor('every sandboxed process to be gone', () => processesWith(marker).length === 0);
  });

  test('a stop at any moment, even while the namespaces are being set up, leaves no process behind', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const marker = `8${process.pid}${Date.now() % 10000}`;
    for (let i = 0; i < 12; i++) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), i * 4);
      const result = await runInProcessGroup({
        invocation: isolation.wrap({ command: `sleep ${marker}${i} & sleep ${marker}${i} ; wait`, cwd: box, sandboxRoot: box, handoffHome: home }),
        cwd: box,
        env: { PATH: process.env.PATH },
        timeoutMs: 60_000,
        outputLimitBytes: 1024,
        killGraceMs: 300,
        signal: controller.signal,
      });
      assert.equal(result.aborted, true);
    }
    await waitFor('every sandboxed process to be gone', () => processesWith(marker).length === 0);
  });

  test('the command is passed as an argument, never spliced into the script', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const tricky = await run(`printf '%s\\n' "it's" '"$2" $(echo x)' 'a\\b'`);
    assert.equal(tricky.output, `it's\n"$2" $(echo x)\na\\b\n`);
  });
});

describe('isolation modes', () => {
  const base = mkdtempSync('/tmp/handoff-isolation-mode-');
  after(() => rmSync(base, { recursive: true, force: true }));

  test('none is none; auto picks a working level; a forced level that cannot work refuses every command', () => {
    const opts = { network: false, sandboxRoot: base, handoffHome: join(base, 'home') };
    const none = detectIsolation({ ...opts, mode: 'none' });
    assert.equal(none.level, 'none');
    assert.match(none.detail, /disabled by agent.json/);

    const auto = detectIsolation({ ...opts, mode: 'auto' });
    if (process.platform === 'linux') assert.ok(['bubblewrap', 'unshare', 'none'].includes(auto.level), auto.detail);

    if (process.platform === 'darwin') return;
    const forced = detectIsolation({ ...opts, mode: 'sandbox-exec' });
    assert.equal(forced.level, 'none');
    assert.match(forced.detail, /asks for isolation "sandbox-exec" but sandbox-exec is macOS only/);
    const inv = forced.wrap({ command: 'touch pwned', cwd: base, sandboxRoot: base, handoffHome: opts.handoffHome });
    const r = spawnSync(inv.file, inv.args, { cwd: base, encoding: 'utf8' });
    assert.equal(r.status, 126);
    assert.match(r.stderr, /bash refused: agent.json asks for isolation "sandbox-exec"/);
    assert.equal(existsSync(join(base, 'pwned')), false);
  });
});

describe('sandbox-exec profile (macOS; the text only, it cannot run here)', () => {
  const opts = { sandboxRoot: '/Users/me/.handoff/workspace', handoffHome: '/Users/me/.handoff', tempDir: '/private/var/folders/ab/T', network: false };

  test('denies writes except the sandbox, temp dir and devices; hides home; re-allows the sandbox after hiding home', () => {
    const profile = sandboxExecProfile(opts);
    const lines = profile.trim().split('\n');
    assert.equal(lines[0], '(version 1)');
    assert.equal(lines[1], '(allow default)');
    const denyWrite = lines.indexOf('(deny file-write*)');
    const hideHome = lines.indexOf('(deny file-read* (subpath "/Users/me/.handoff"))');
    const sandbox = lines.indexOf('(allow file-read* file-write* (subpath "/Users/me/.handoff/workspace"))');
    assert.ok(denyWrite > 1 && hideHome > denyWrite && sandbox > hideHome, profile);
    const extra = lines.find((l) => l.startsWith('(allow file-write* (subpath "/private/var/folders/ab/T")'));
    assert.ok(extra, profile);
    assert.match(extra, /\(literal "\/dev\/null"\)/);
    assert.match(extra, /\(literal "\/dev\/tty"\)/);
  });

  test('network is denied unless allowed', () => {
    assert.match(sandboxExecProfile(opts), /^\(deny network\*\)$/m);
    assert.doesNotMatch(sandboxExecProfile({ ...opts, network: true }), /network/);
  });

  test('paths are quoted for SBPL: " and \\ escaped, control characters refused', () => {
    const profile = sandboxExecProfile({ ...opts, sandboxRoot: '/Users/me/we"ird\\box) (allow file-write* (subpath "/")' });
    assert.ok(profile.includes('(subpath "/Users/me/we\\"ird\\\\box) (allow file-write* (subpath \\"/\\")")'), profile);
    assert.doesNotMatch(profile, /\(subpath "\/"\)/);
    assert.throws(() => sandboxExecProfile({ ...opts, handoffHome: '/Users/me/a\nb' }), /control character/);
  });
});
