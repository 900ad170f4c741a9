import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectIsolation, findTool, Sandbox, SandboxError } from '@handoff/agent';
import type { ToolContext, ToolOutcome } from '@handoff/agent';
import type { CommandApprovals } from '@handoff/agent';
import type { IntentService } from '@handoff/intents';
// Not on the package's surface: the process-group runner the bash tool uses.
import { runInProcessGroup } from '../../libs/agent/processGroup.ts';
import { processesWith } from '../support/agent.ts';
import { waitFor } from '../support/stack.ts';

/**
 * Sandbox escapes through symlinks, `..`, absolute paths and hard links, for every file tool: each
 * is refused with an error that says why, and nothing outside the sandbox is read or touched.
 * These drive the tools directly on a real file system; the HTTP side (workingDir) is in loop.test.ts.
 */

const SECRET = 'SECRET-OUTSIDE-CONTENT';

describe('agent sandbox', () => {
  let base: string;
  let box: string;
  let outside: string;
  let ctx: ToolContext;
  let outsideBefore: string[];

  const run = async (tool: string, args: Record<string, unknown>): Promise<ToolOutcome> => {
    const t = findTool(tool);
    assert.ok(t, tool);
    return t.run(t.args.parse(args), ctx);
  };

  /** The tool refused: a SandboxError naming the reason (the loop turns it into an error result). */
  const refused = async (tool: string, args: Record<string, unknown>, why: RegExp): Promise<void> => {
    await assert.rejects(run(tool, args), (err: unknown) => {
      assert.ok(err instanceof SandboxError, `${tool} ${JSON.stringify(args)}: ${String(err)}`);
      assert.match(err.message, why, `${tool} ${JSON.stringify(args)}`);
      return true;
    });
  };

  const outsideUntouched = (): void => {
    assert.deepEqual(readdirSync(outside).sort(), outsideBefore);
    assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), SECRET);
  };

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'handoff-sandbox-'));
    box = join(base, 'box');
    outside = join(base, 'outside');
    mkdirSync(join(box, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), SECRET);
    writeFileSync(join(box, 'inside.txt'), 'inside\n');
    writeFileSync(join(box, 'sub', 'nested.txt'), 'nested\n');
    symlinkSync(join(outside, 'secret.txt'), join(box, 'link-out'));
    symlinkSync('../outside', join(box, 'dir-out'));
    symlinkSync(join(outside, 'missing.txt'), join(box, 'dangling'));
    symlinkSync('inside.txt', join(box, 'link-in'));
    linkSync(join(outside, 'secret.txt'), join(box, 'hard.txt'));
    outsideBefore = readdirSync(outside).sort();
    ctx = {
      sessionId: 's',
      toolCallId: 't',
      sandbox: new Sandbox(box),
      signal: new AbortController().signal,
      emit: () => {},
      guard: { check: async () => ({ decision: 'allow', rule: 'test.allow', reason: 'test' }) },
      approvals: {} as CommandApprovals,
      approverAvailable: false,
      intents: {} as IntentService,
      actor: 'test',
      isolation: detectIsolation({ mode: 'auto', network: false, sandboxRoot: box, handoffHome: join(base, 'home') }),
      handoffHome: join(base, 'home'),
      bash: { timeoutMs: 30_000, outputLimitBytes: 64 * 1024, killGraceMs: 500 },
      approvalTimeoutMs: 1000,
      approvalPollMs: 50,
    };
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const escapes = () => [
    { name: '..', path: '../outside/secret.txt', why: /outside the sandbox/ },
    { name: 'an absolute path', path: join(base, 'outside', 'secret.txt'), why: /outside the sandbox/ },
    { name: 'a symlink to a file', path: 'link-out', why: /outside the sandbox/ },
    { name: 'a symlinked directory', path: 'dir-out/secret.txt', why: /outside the sandbox/ },
    { name: '.. after a real directory', path: 'sub/../../outside/secret.txt', why: /outside the sandbox/ },
    { name: 'a hard link', path: 'hard.txt', why: /hard links/ },
  ];

  test('read_file refuses every escape', async () => {
    for (const e of escapes()) await refused('read_file', { path: e.path }, e.why);
    assert.equal((await run('read_file', { path: 'link-in' })).output, 'inside\n');
    assert.equal((await run('read_file', { path: join(box, 'sub/nested.txt') })).output, 'nested\n');
  });

  test('write_file refuses every escape, a dangling symlink and a new file through a symlinked directory', async () => {
    for (const e of escapes()) await refused('write_file', { path: e.path, content: 'pwned' }, e.why);
    await refused('write_file', { path: 'dangling', content: 'pwned' }, /symlink to a missing target/);
    await refused('write_file', { path: 'dir-out/new.txt', content: 'pwned' }, /outside the sandbox/);
    await refused('write_file', { path: '../outside/new.txt', content: 'pwned' }, /outside the sandbox/);
    await refused('write_file', { path: join(outside, 'new.txt'), content: 'pwned' }, /outside the sandbox/);
    outsideUntouched();
    const ok = await run('write_file', { path: 'made/deep/new.txt', content: 'fine' });
    assert.equal(ok.ok, true);
    assert.equal(readFileSync(join(box, 'made/deep/new.txt'), 'utf8'), 'fine');
  });

  test('edit_file refuses every escape and tells how often a string occurred', async () => {
    for (const e of escapes())
      await refused('edit_file', { path: e.path, old_string: 'SECRET', new_string: 'pwned' }, e.why);
    await refused('edit_file', { path: 'dangling', old_string: 'a', new_string: 'b' }, /symlink to a missing target/);
    outsideUntouched();
    writeFileSync(join(box, 'twice.txt'), 'a a');
    const twice = await run('edit_file', { path: 'twice.txt', old_string: 'a', new_string: 'b' });
    assert.equal(twice.ok, false);
    assert.match(twice.output, /occurs 2 times/);
    const none = await run('edit_file', { path: 'twice.txt', old_string: 'zzz', new_string: 'b' });
    assert.match(none.output, /occurs 0 times/);
    assert.equal(readFileSync(join(box, 'twice.txt'), 'utf8'), 'a a');
  });

  test('read_file, write_file and edit_file refuse a FIFO at once, and grep skips it, instead of waiting for a writer', async () => {
    const made = spawnSync('mkfifo', [join(box, 'pipe')]);
    assert.equal(made.status, 0, String(made.stderr));
    try {
      await refused('read_file', { path: 'pipe' }, /not a regular file/);
      await refused('write_file', { path: 'pipe', content: 'x' }, /not a regular file/);
      await refused('edit_file', { path: 'pipe', old_string: 'a', new_string: 'b' }, /not a regular file/);
      // grep skips it (it would wait for a writer for ever) and still searches the rest
      const found = await run('grep', { pattern: 'SECRET|inside', glob: '**/*' });
      assert.equal(found.ok, true, found.output);
      assert.doesNotMatch(found.output, /^pipe:/m);
    } finally {
      rmSync(join(box, 'pipe'));
    }
  });

  test('glob refuses patterns and directories that leave, and lists no symlinked or outside files', async () => {
    await refused('glob', { pattern: '../outside/*' }, /climbs out/);
    await refused('glob', { pattern: join(outside, '*') }, /absolute/);
    await refused('glob', { pattern: '*', path: '..' }, /outside the sandbox/);
    await refused('glob', { pattern: '*', path: 'dir-out' }, /outside the sandbox/);
    await refused('glob', { pattern: '*', path: outside }, /outside the sandbox/);
    const all = (await run('glob', { pattern: '**/*' })).output.split('\n');
    assert.ok(all.includes('inside.txt') && all.includes('sub/nested.txt'), all.join(','));
    for (const name of all) assert.doesNotMatch(name, /dir-out|link-out|secret/);
  });

  test('grep refuses directories that leave and never reads outside content', async () => {
    await refused('grep', { pattern: 'SECRET', path: '..' }, /outside the sandbox/);
    await refused('grep', { pattern: 'SECRET', path: 'dir-out' }, /outside the sandbox/);
    await refused('grep', { pattern: 'SECRET', glob: '../outside/*' }, /climbs out/);
    const result = await run('grep', { pattern: 'SECRET' });
    assert.match(result.output, /^no matches/);
    assert.match((await run('grep', { pattern: 'nest' })).output, /^sub\/nested\.txt:1: nested$/);
  });

  test('glob and grep respect .gitignore and skip binary files', async () => {
    writeFileSync(join(box, '.gitignore'), 'ignored/\n*.log\n');
    mkdirSync(join(box, 'ignored'), { recursive: true });
    writeFileSync(join(box, 'ignored', 'a.txt'), 'needle\n');
    writeFileSync(join(box, 'x.log'), 'needle\n');
    writeFileSync(join(box, 'sub', 'kept.txt'), 'needle\n');
    writeFileSync(join(box, 'bin.dat'), Buffer.from([0, 1, 2, 110, 101, 101, 100, 108, 101]));
    assert.equal((await run('grep', { pattern: 'needle' })).output, 'sub/kept.txt:1: needle');
    const listed = (await run('glob', { pattern: '**/*.txt' })).output.split('\n');
    assert.ok(!listed.some((l) => l.startsWith('ignored/')), listed.join(','));
  });

  test('bash runs in the sandbox with a scrubbed environment; under bubblewrap nothing outside is writable', async (t) => {
    const saved = { DATABASE_URL: process.env.DATABASE_URL, HANDOFF_TOKEN: process.env.HANDOFF_TOKEN };
    process.env.HANDOFF_TEST_SECRET = 'should-not-leak';
    process.env.DATABASE_URL = 'postgres://postgres:should-not-leak@127.0.0.1/x';
    process.env.HANDOFF_TOKEN = 'hnd_should-not-leak';
    try {
      const env = await run('bash', { command: 'pwd; env | sort' });
      assert.equal(env.exitCode, 0);
      assert.match(env.output, new RegExp(`^${box}\n`));
      assert.doesNotMatch(env.output, /HANDOFF_|DATABASE_URL|should-not-leak/);
      assert.match(env.output, /TERM=dumb/);
      assert.match(env.output, new RegExp(`HOME=${box}`));
    } finally {
      delete process.env.HANDOFF_TEST_SECRET;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    // what the file tools make, the commands may change (under a root service both are the agent's user's)
    assert.equal((await run('write_file', { path: 'tools/made.txt', content: 'by the tool\n' })).ok, true);
    const changed = await run('bash', {
      command: 'echo by bash >> tools/made.txt && echo x > tools/new.txt && cat tools/made.txt',
    });
    assert.equal(changed.exitCode, 0, changed.output);
    assert.match(changed.output, /by the tool\nby bash\n/);
    const big = await run('bash', { command: 'head -c 200000 /dev/zero | tr "\\0" a; echo; echo END' });
    assert.match(big.output, /bytes of output truncated/);
    assert.match(big.output, /END\n\[exit code 0/);
    const timeout = await run('bash', { command: 'sleep 20', timeout_ms: 300 });
    assert.equal(timeout.ok, false);
    assert.match(timeout.output, /timed out after 300 ms/);

    if (ctx.isolation.level !== 'bubblewrap' && ctx.isolation.level !== 'unshare')
      return t.skip(`isolation is ${ctx.isolation.level}: ${ctx.isolation.detail}`);
    const escape = await run('bash', {
      command: `echo pwned > ${join(outside, 'new.txt')}; cat ${join(outside, 'secret.txt')}; echo pwned > inside-ok.txt`,
    });
    assert.notEqual(escape.exitCode, null);
    outsideUntouched();
    assert.equal(readFileSync(join(box, 'inside-ok.txt'), 'utf8'), 'pwned\n');
  });

  test('a stop at any moment, even while bubblewrap is still setting up, leaves no process behind', async () => {
    const marker = `9${process.pid}${Date.now() % 10000}`;
    for (let i = 0; i < 12; i++) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), i * 4);
      const command = `sleep ${marker}${i} & sleep ${marker}${i} ; wait`;
      const result = await runInProcessGroup({
        invocation: ctx.isolation.wrap({ command, cwd: box, sandboxRoot: box, handoffHome: ctx.handoffHome }),
        cwd: box,
        env: { PATH: process.env.PATH },
        timeoutMs: 60_000,
        outputLimitBytes: 1024,
        killGraceMs: 300,
        signal: controller.signal,
      });
      assert.equal(result.aborted, true);
    }
    await waitFor('every sandboxed process to be gone', async () => processesWith(marker).length === 0);
  });
});
