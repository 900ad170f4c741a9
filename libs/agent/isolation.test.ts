import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { detectIsolation, sandboxExecProfile, sandboxLayout, type Isolation } from './isolation.ts';
import { runInProcessGroup } from './processGroup.ts';

/** Pids of live, non-zombie processes whose command line contains `marker` (host-wide). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker) && !/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'utf8')))
        pids.push(Number(entry));
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

const root = typeof process.getuid === 'function' && process.getuid() === 0;

/** A listening AF_UNIX socket at `path` that counts the connections it gets. */
async function unixListener(path: string): Promise<{ server: Server; connections: () => number }> {
  let n = 0;
  const server = createServer((socket) => {
    n++;
    socket.on('error', () => {});
    socket.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return { server, connections: () => n };
}

/** Node (at `node`) run inside the sandbox connects to a unix socket: prints CONNECTED, or the error code. */
const connectUnix = (node: string, socketPath: string): string =>
  `${JSON.stringify(node)} -e 'require("net").connect(process.argv[1]).on("connect",()=>{console.log("CONNECTED");process.exit(0)}).on("error",(e)=>{console.log("REFUSED "+e.code);process.exit(1)})' ${JSON.stringify(socketPath)}`;

for (const level of ['bubblewrap', 'unshare'] as const) {
  describe(`${level} isolation`, () => {
    // Outside /tmp on purpose, under /var: both are replaced by a tmpfs in the sandbox, and the
    // sandbox inside $HANDOFF_HOME must be recreated through the hidden directories.
    const base = realpathSync(mkdtempSync('/var/tmp/handoff-isolation-'));
    const home = join(base, 'home');
    const box = join(home, 'workspace');
    const outside = join(base, 'outside');
    const tag = `${process.pid}-${level}`;
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
      isolation = detectIsolation({ mode: level, network: false, sandboxRoot: box, handoffHome: home });
      if (isolation.level !== level) unavailable = `${level} is not usable here: ${isolation.detail}`;
    });
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(base, { recursive: true, force: true });
    });

    async function run(
      command: string,
      iso = isolation,
      cwd = box,
    ): Promise<{ exitCode: number | null; output: string }> {
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

    test('health detail says what the level gives; nothing to warn about', (t) => {
      if (unavailable) return t.skip(unavailable);
      assert.match(isolation.detail, /read-only \/, writable working directory/);
      assert.match(isolation.detail, /\/home, \/root, \/run, \/var/);
      assert.match(isolation.detail, /network off/);
      assert.equal(isolation.warning, null);
    });

    test('a command writes inside the working directory and nowhere on the host', async (t) => {
      if (unavailable) return t.skip(unavailable);
      const inside = await run('echo in > a.txt && echo sub > sub/b.txt && pwd');
      assert.equal(inside.exitCode, 0, inside.output);
      assert.equal(readFileSync(join(box, 'a.txt'), 'utf8'), 'in\n');
      assert.equal(readFileSync(join(box, 'sub', 'b.txt'), 'utf8'), 'sub\n');
      const inSub = await run('pwd; echo deeper > c.txt', isolation, join(box, 'sub'));
      assert.equal(inSub.exitCode, 0, inSub.output);
      assert.equal(inSub.output.split('\n')[0], join(box, 'sub'));
      assert.equal(readFileSync(join(box, 'sub', 'c.txt'), 'utf8'), 'deeper\n');

      // a system directory, a directory beside $HANDOFF_HOME, $HANDOFF_HOME itself, the host's /tmp
      const marker = `handoff-isolation-${tag}-${Date.now()}`;
      const targets = [
        `/usr/${marker}`,
        `/etc/${marker}`,
        join(outside, 'new.txt'),
        join(home, 'policy.json'),
        `/tmp/${marker}`,
        `/var/tmp/${marker}`,
      ];
      const escape = await run(targets.map((f) => `echo pwned > ${f}`).join('; '));
      for (const f of targets) assert.equal(existsSync(f), false, `${f} was written: ${escape.output}`);
      // system files stay readable (read-only /); what is beside $HANDOFF_HOME under /var is not there
      assert.match((await run('head -c 5 /etc/passwd')).output, /^root:/);
      assert.match((await run(`cat ${join(outside, 'readable.txt')}`)).output, /No such file or directory/);
      // /tmp is fresh: writable, gone afterwards, and not the host's
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

    test("the host's secrets are out of reach: a home's ~/.ssh, /etc/shadow, host unix sockets", async (t) => {
      if (unavailable) return t.skip(unavailable);
      const homes = [join(homedir(), `.handoff-test-${tag}`)];
      if (root) homes.push(`/home/handoff-test-${tag}`);
      for (const h of homes) {
        mkdirSync(join(h, '.ssh'), { recursive: true });
        writeFileSync(join(h, '.ssh', 'id_ed25519'), 'PRIVATE-KEY-SEEDED\n', { mode: 0o644 });
      }
      // docker.sock and the D-Bus buses live under /run (= /var/run); a per-user runtime dir too
      const xdg = process.env.XDG_RUNTIME_DIR;
      const runDir = root ? '/run' : xdg && existsSync(xdg) ? xdg : undefined;
      const socketPaths = [`/tmp/handoff-test-${tag}.sock`, join(homes[0]!, 'agent.sock')];
      if (runDir) socketPaths.push(join(runDir, `handoff-test-${tag}.sock`));
      if (root) socketPaths.push(`/var/run/handoff-test-${tag}-b.sock`);
      const listeners = await Promise.all(socketPaths.map(unixListener));
      try {
        for (const h of homes) {
          const key = await run(`cat ${join(h, '.ssh', 'id_ed25519')}; ls -A ${h}`);
          assert.doesNotMatch(key.output, /PRIVATE-KEY-SEEDED/, h);
          assert.match(key.output, /No such file or directory/, h);
        }
        // the host's shared memory (an embedded Postgres keeps its buffers there) is not the sandbox's
        const shmFile = `/dev/shm/handoff-test-${tag}`;
        if (existsSync('/dev/shm')) writeFileSync(shmFile, 'SHARED-MEMORY-SEEDED', { mode: 0o644 });
        const shm = await run(`cat ${shmFile}; echo x > /dev/shm/scratch && echo shm-writable`);
        rmSync(shmFile, { force: true });
        assert.doesNotMatch(shm.output, /SHARED-MEMORY-SEEDED/);
        if (existsSync('/dev/shm')) assert.match(shm.output, /shm-writable/);
        assert.equal(existsSync('/dev/shm/scratch'), false);
        const shadow = await run('cat /etc/shadow | head -c 20');
        assert.doesNotMatch(shadow.output, /root:/);

        // the host's node can reach each socket (the listener works), the sandboxed one none; a node
        // under a directory the sandbox hides (a clone in /tmp or a home) is copied into the workspace
        const hiddenNode = ['/home', '/root', '/run', '/var', '/tmp'].some((d) => process.execPath.startsWith(`${d}/`));
        const node = hiddenNode ? join(box, '.probe-node') : process.execPath;
        if (hiddenNode) {
          copyFileSync(process.execPath, node);
          chmodSync(node, 0o755);
        }
        for (const [i, p] of socketPaths.entries()) {
          const tried = await run(connectUnix(node, p));
          assert.match(tried.output, /^REFUSED (ENOENT|EACCES|ECONNREFUSED)/, `${p}: ${tried.output}`);
          assert.equal(listeners[i]!.connections(), 0, p);
        }
        const control = spawnSync(process.execPath, [
          '-e',
          'require("net").connect(process.argv[1]).on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))',
          socketPaths[0]!,
        ]);
        assert.equal(control.status, 0, 'the listener itself works');
      } finally {
        await Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
        for (const h of homes) rmSync(h, { recursive: true, force: true });
        rmSync(join(box, '.probe-node'), { force: true });
      }
    });

    test('the command has no capability: it cannot unmount what hides the host nor remount / writable', async (t) => {
      if (unavailable) return t.skip(unavailable);
      const tried = await run(
        `grep CapEff /proc/self/status; umount -l ${home} 2>&1; umount -l /tmp 2>&1; mount -o remount,rw / 2>&1; ls -A ${home}; echo pwned > ${join(outside, 'after-remount.txt')}`,
      );
      assert.match(tried.output, /CapEff:\s+0+\n/);
      assert.doesNotMatch(tried.output, /secrets\.json/);
      assert.equal(existsSync(join(outside, 'after-remount.txt')), false);
    });

    test('a root service runs commands as an unprivileged user, who cannot see other processes', async (t) => {
      if (unavailable) return t.skip(unavailable);
      if (!root) return t.skip('the service is not root here: commands run as its own user');
      assert.ok(isolation.runAs && isolation.runAs.uid !== 0, JSON.stringify(isolation.runAs));
      const who = await run(`id -u; cat /proc/${process.pid}/environ | head -c 10; grep CapEff /proc/self/status`);
      assert.equal(who.output.split('\n')[0], String(isolation.runAs.uid));
      assert.match(who.output, /CapEff:\s+0+\n/);
      assert.match(who.output, /No such file|Permission denied/);
    });

    test('no network: a TCP connect to a server on 127.0.0.1 fails; network: true lets it through', async (t) => {
      if (unavailable) return t.skip(unavailable);
      const connect = `echo hi > /dev/tcp/127.0.0.1/${port}`;
      const before = connections;
      const blocked = await run(connect);
      assert.notEqual(blocked.exitCode, 0, blocked.output);
      assert.equal(connections, before);

      const open = detectIsolation({ mode: level, network: true, sandboxRoot: box, handoffHome: home });
      assert.equal(open.level, level, open.detail);
      assert.match(open.detail, /network shared/);
      assert.match(open.warning ?? '', /share the host network/);
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
        invocation: isolation.wrap({
          command: `setsid sleep 5${marker} & sleep 3${marker} & sleep 4${marker}; wait`,
          cwd: box,
          sandboxRoot: box,
          handoffHome: home,
        }),
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
          invocation: isolation.wrap({
            command: `sleep ${marker}${i} & sleep ${marker}${i} ; wait`,
            cwd: box,
            sandboxRoot: box,
            handoffHome: home,
          }),
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
}

describe('sandbox layout', () => {
  test('hides homes, /run, /var, /tmp and $HANDOFF_HOME; recreates the way to the box; covers a home inside the box again', () => {
    const base = realpathSync(mkdtempSync('/tmp/handoff-layout-'));
    try {
      mkdirSync(join(base, 'h', 'workspace', 'a'), { recursive: true });
      const nested = sandboxLayout({ sandboxRoot: join(base, 'h', 'workspace', 'a'), handoffHome: join(base, 'h') });
      for (const d of ['/tmp', '/run', '/var', '/home', '/root'])
        if (existsSync(d)) assert.ok(nested.hidden.includes(d), d);
      // $HANDOFF_HOME is under /tmp, hidden with it; the way down to the box is recreated
      assert.ok(!nested.hidden.includes(join(base, 'h')));
      assert.deepEqual(nested.ancestors, [base, join(base, 'h'), join(base, 'h', 'workspace')]);
      assert.deepEqual(nested.hiddenInBox, []);
      if (existsSync('/etc/shadow')) assert.ok(nested.masked.includes('/etc/shadow'));

      mkdirSync(join(base, 'ws', '.handoff'), { recursive: true });
      const inside = sandboxLayout({ sandboxRoot: join(base, 'ws'), handoffHome: join(base, 'ws', '.handoff') });
      // under /tmp already, but the box is bound back over /tmp's tmpfs: so the home is covered again
      assert.deepEqual(inside.hiddenInBox, [join(base, 'ws', '.handoff')]);
      assert.throws(
        () => sandboxLayout({ sandboxRoot: join(base, 'ws'), handoffHome: join(base, 'ws') }),
        /cannot be \$HANDOFF_HOME/,
      );
      assert.throws(() => sandboxLayout({ sandboxRoot: `${base}/a\nb`, handoffHome: base }), /newline/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('isolation modes', () => {
  const base = mkdtempSync('/tmp/handoff-isolation-mode-');
  after(() => rmSync(base, { recursive: true, force: true }));

  test('none only by name, with a warning; auto picks a working level; a forced level that cannot work refuses every command', () => {
    const opts = { network: false, sandboxRoot: base, handoffHome: join(base, 'home') };
    const none = detectIsolation({ ...opts, mode: 'none' });
    assert.equal(none.level, 'none');
    assert.match(none.detail, /disabled by agent.json/);
    assert.match(none.warning ?? '', /isolation "none" \(agent.json\): bash commands run without OS isolation/);

    const auto = detectIsolation({ ...opts, mode: 'auto' });
    // auto never falls back to running commands unisolated: either a level, or every command refused
    if (auto.level === 'none')
      assert.match(auto.detail, /^bash refused: no OS isolation works here .*set "isolation": "none"/);
    else if (process.platform === 'linux') assert.ok(['bubblewrap', 'unshare'].includes(auto.level), auto.detail);

    if (process.platform === 'darwin') return;
    const forced = detectIsolation({ ...opts, mode: 'sandbox-exec' });
    assert.equal(forced.level, 'none');
    assert.match(forced.detail, /asks for isolation "sandbox-exec" but sandbox-exec is macOS only/);
    assert.equal(forced.warning, forced.detail);
    const inv = forced.wrap({ command: 'touch pwned', cwd: base, sandboxRoot: base, handoffHome: opts.handoffHome });
    const r = spawnSync(inv.file, inv.args, { cwd: base, encoding: 'utf8' });
    assert.equal(r.status, 126);
    assert.match(r.stderr, /bash refused: agent.json asks for isolation "sandbox-exec"/);
    assert.equal(existsSync(join(base, 'pwned')), false);
  });

  test("isolation none under a root service: another user, who cannot read or change $HANDOFF_HOME nor the service's environment", async (t) => {
    if (!root)
      return t.skip('the service is not root here: under isolation none its commands run as itself (documented)');
    // $HANDOFF_HOME as a person would leave it (0755, files 0644): the service closes it at start
    const home = join(base, 'none-home');
    const box = join(home, 'workspace');
    mkdirSync(box, { recursive: true, mode: 0o755 });
    chmodSync(home, 0o755);
    for (const f of ['secrets.json', 'pg.json', 'policy.json', 'operator.token'])
      writeFileSync(join(home, f), `{"secret":"HOME-SECRET-${f}"}`, { mode: 0o644 });
    const none = detectIsolation({ mode: 'none', network: false, sandboxRoot: box, handoffHome: home });
    assert.ok(none.runAs && none.runAs.uid !== 0);
    assert.equal(statSync(home).mode & 0o077, 0, '$HANDOFF_HOME is closed to other users');
    process.env.HANDOFF_TEST_COORDINATOR_SECRET = 'COORDINATOR-ENV-SECRET';
    try {
      const result = await runInProcessGroup({
        invocation: none.wrap({
          command: `id -u; echo ok > mine.txt; cat ../secrets.json ../pg.json ../policy.json ${home}/operator.token; echo '{}' > ../policy.json; cat /proc/${process.pid}/environ; env`,
          cwd: box,
          sandboxRoot: box,
          handoffHome: home,
        }),
        cwd: box,
        env: { PATH: process.env.PATH, HOME: box },
        timeoutMs: 30_000,
        outputLimitBytes: 64 * 1024,
        killGraceMs: 500,
        signal: new AbortController().signal,
      });
      assert.equal(result.output.split('\n')[0], String(none.runAs.uid));
      assert.equal(readFileSync(join(box, 'mine.txt'), 'utf8'), 'ok\n', 'the workspace is writable');
      assert.doesNotMatch(result.output, /HOME-SECRET|COORDINATOR-ENV-SECRET/);
      assert.match(result.output, /Permission denied/);
      assert.equal(readFileSync(join(home, 'policy.json'), 'utf8'), '{"secret":"HOME-SECRET-policy.json"}');
    } finally {
      delete process.env.HANDOFF_TEST_COORDINATOR_SECRET;
    }
  });
});

describe('sandbox-exec profile (macOS; the text only, it cannot run here)', () => {
  const opts = {
    sandboxRoot: '/Users/me/.handoff/workspace',
    handoffHome: '/Users/me/.handoff',
    userHome: '/Users/me',
    tempDir: '/private/var/folders/ab/T',
    network: false,
  };

  test("denies writes except the sandbox, temp dir and devices; hides the user's home, /Users and $HANDOFF_HOME; re-allows the sandbox after", () => {
    const profile = sandboxExecProfile(opts);
    const lines = profile.trim().split('\n');
    assert.equal(lines[0], '(version 1)');
    assert.equal(lines[1], '(allow default)');
    const denyWrite = lines.indexOf('(deny file-write*)');
    const hideHome = lines.indexOf('(deny file-read* (subpath "/Users/me/.handoff"))');
    for (const hidden of ['/Users', '/Users/me', '/private/var/root']) {
      const at = lines.indexOf(`(deny file-read* (subpath "${hidden}"))`);
      assert.ok(
        at > denyWrite && at < lines.indexOf('(allow file-read* file-write* (subpath "/Users/me/.handoff/workspace"))'),
        `${hidden}: ${profile}`,
      );
    }
    const sandbox = lines.indexOf('(allow file-read* file-write* (subpath "/Users/me/.handoff/workspace"))');
    assert.ok(denyWrite > 1 && hideHome > denyWrite && sandbox > hideHome, profile);
    assert.ok(
      lines.indexOf(
        '(allow file-read-metadata (literal "/") (literal "/Users") (literal "/Users/me") (literal "/Users/me/.handoff"))',
      ) > sandbox,
      profile,
    );
    const extra = lines.find((l) => l.startsWith('(allow file-write* (subpath "/private/var/folders/ab/T")'));
    assert.ok(extra, profile);
    assert.match(extra, /\(literal "\/dev\/null"\)/);
    assert.match(extra, /\(literal "\/dev\/tty"\)/);
  });

  test('network is denied unless allowed; unix sockets always', () => {
    assert.match(sandboxExecProfile(opts), /^\(deny network\*\)$/m);
    const open = sandboxExecProfile({ ...opts, network: true });
    assert.doesNotMatch(open, /\(deny network\*\)/);
    assert.match(open, /^\(deny network-outbound \(remote unix-socket\)\)$/m);
  });

  test('paths are quoted for SBPL: " and \\ escaped, control characters refused', () => {
    const profile = sandboxExecProfile({
      ...opts,
      sandboxRoot: '/Users/me/we"ird\\box) (allow file-write* (subpath "/")',
    });
    assert.ok(profile.includes('(subpath "/Users/me/we\\"ird\\\\box) (allow file-write* (subpath \\"/\\")")'), profile);
    assert.doesNotMatch(profile, /\(subpath "\/"\)/);
    assert.throws(() => sandboxExecProfile({ ...opts, handoffHome: '/Users/me/a\nb' }), /control character/);
  });
});
