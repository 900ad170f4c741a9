/**
 * The `handoff` CLI with no coordinator to talk to: help, usage errors (exit 2) and an unreachable
 * coordinator (one line, exit 1), never a stack trace.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoStack, closedPort, handoff, lines, repo } from './run.ts';
import type { Run } from './run.ts';

describe('handoff CLI without a coordinator', () => {
  test('--help prints the commands and exits 0', async () => {
    const run = await handoff(['--help']);
    assert.equal(run.code, 0);
    for (const command of ['start', 'pending', 'approve', 'reject', 'gate', 'live', 'token']) {
      assert.match(run.stdout, new RegExp(`\\n  ${command}\\b`), `help lists ${command}`);
    }
  });

  test('an unreachable coordinator is one line on stderr and exit 1, with no stack trace', async () => {
    const port = await closedPort();
    const run = await handoff(['pending'], { HANDOFF_URL: `http://127.0.0.1:${port}`, HANDOFF_TOKEN: 'hnd_x' });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.deepEqual(lines(run.stderr), [
      `handoff: cannot reach the coordinator at http://127.0.0.1:${port} (connection refused). Is it running? Start it with \`handoff start\`.`,
    ]);
  });

  test('every command that talks to the coordinator reports an unreachable one the same way', async () => {
    const port = await closedPort();
    const id = '3b241101-e2bb-4255-8caf-4136c566a962';
    for (const args of [['live'], ['gate'], ['show', id], ['approve', id], ['token', 'create', '--role', 'viewer']]) {
      const run = await handoff(args, { HANDOFF_URL: `http://127.0.0.1:${port}` });
      assert.equal(run.code, 1, args.join(' '));
      assert.equal(lines(run.stderr).length, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /cannot reach the coordinator/);
    }
  });

  test('usage errors exit 2 and name what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['reject', '3b241101-e2bb-4255-8caf-4136c566a962'], /--reason/],
      [['show', 'not-a-uuid'], /argument 'id'.*UUID/],
      [['approve', '3b241101-e2bb-4255-8caf-4136c566a962', 'nope'], /argument 'id'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['gate', 'off', '--scope', 'NOT A SCOPE'], /--scope/],
      [['gate', 'sideways'], /argument 'action'/],
      [['token', 'create', '--role', 'root'], /--role/],
      [['token', 'create'], /--role/],
      [['list', '--state', 'finished'], /--state/],
      [['resolve', '3b241101-e2bb-4255-8caf-4136c566a962'], /--external-id/],
      [['start', '--port', '70000'], /--port/],
      [[], /Usage: handoff/],
    ];
    for (const [args, pattern] of cases) {
      const run = await handoff(args);
      assert.equal(run.code, 2, `handoff ${args.join(' ')} exits 2 (got ${run.code}; ${run.stderr})`);
      assert.match(run.stderr, pattern, `handoff ${args.join(' ')}`);
      assertNoStack(run.stderr);
    }
  });

  test('the bin launcher runs the same CLI and passes its exit code through', async () => {
    const launcher = path.join(repo, 'apps', 'cli', 'bin', 'handoff.js');
    const run = (args: string[]): Promise<Run> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [launcher, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const version = await run(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });

  test('a malformed HANDOFF_URL is a usage error', async () => {
    const run = await handoff(['live'], { HANDOFF_URL: 'not a url' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /HANDOFF_URL/);
  });
});
