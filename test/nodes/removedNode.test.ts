import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreatedNode } from '@handoff/nodes';
import { credentialsRefusal, EXIT_CREDENTIALS_REFUSED } from '@handoff/executor';
import { onOutputLines } from '../support/lines.ts';
import { withLoopbackReceivers } from '../support/pipeline.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * A removed node's executor stops by itself (apps/executor/credentialsRefused.ts, decision 141):
 * once Postgres refuses its role's login it says so in one sentence and exits 78, so that systemd
 * (RestartPreventExitStatus=78) does not restart it; an outage, its sessions ended while the role
 * still exists, does not stop it.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(repo, 'apps/cli/src/main.ts');
const EXECUTOR = join(repo, 'apps/executor/main.ts');
const SENTENCE =
  "this node's database role was refused (28P01): it was removed with `handoff node remove` or its password changed; run `handoff executor --join` with a new join string";
const refusedSentence =
  /this node's database role was refused \((28P01|28000)\): it was removed with `handoff node remove` or its password changed; run `handoff executor --join` with a new join string/;

let stack: Stack;
let node: CreatedNode;
let nodeId: string;
let nodeHome: string;

interface Run {
  output: string[];
  exited: Promise<number | string>;
  kill(): void;
}

/** `handoff executor` (or apps/executor/main.ts) as a node, in its own home, as deployed. */
function runExecutor(script: string, args: string[]): Run {
  const child = spawn(process.execPath, [script, ...args], {
    env: {
      ...process.env,
      DATABASE_URL: '',
      HANDOFF_EXECUTOR_ID: '',
      HANDOFF_HOME: nodeHome,
      HANDOFF_SWEEP_MS: '250',
      HANDOFF_HEARTBEAT_MS: '500',
      HANDOFF_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  onOutputLines([child.stdout, child.stderr], (line) => output.push(line));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  return { output, exited, kill: () => child.kill('SIGKILL') };
}

const running = (run: Run): Promise<number | string | undefined> =>
  Promise.race([run.exited, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);

before(async () => {
  stack = await startStack({});
  nodeId = `t${randomBytes(5).toString('hex')}`;
  const res = await stack.api<CreatedNode>('POST', '/v1/nodes', { id: nodeId, accounts: ['webhook:default'] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  node = res.body;
  nodeHome = mkdtempSync(join(tmpdir(), 'handoff-removed-node-'));
  writeFileSync(join(nodeHome, 'policy.json'), JSON.stringify(withLoopbackReceivers({})));
});

after(async () => {
  await stack.api('DELETE', `/v1/nodes/${nodeId}`).catch(() => undefined);
  await stack.tdb.pool.query(`DROP ROLE IF EXISTS "handoff_node_${nodeId}"`).catch(() => undefined);
  await stack.close();
  rmSync(nodeHome, { recursive: true, force: true });
});

describe('which login failures stop an executor', () => {
  test('28P01 and 28000 are refusals, also wrapped in a cause or an AggregateError', () => {
    for (const code of ['28P01', '28000']) {
      const err = Object.assign(new Error('refused'), { code });
      assert.equal(credentialsRefusal(err, true)?.code, code);
      assert.equal(credentialsRefusal(new Error('wrapped', { cause: err }), true)?.code, code);
      assert.equal(credentialsRefusal(new AggregateError([err]), true)?.code, code);
      assert.equal(credentialsRefusal(err, true)?.exitCode, EXIT_CREDENTIALS_REFUSED);
    }
    assert.equal(credentialsRefusal(Object.assign(new Error('x'), { code: '28P01' }), true)?.message, SENTENCE);
  });

  test('an outage is not: connection refused, a timeout, admin shutdown, too many connections', () => {
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', '57P01', '57P03', '53300', '08006', '42501']) {
      assert.equal(credentialsRefusal(Object.assign(new Error(code), { code }), true), null, code);
    }
    assert.equal(credentialsRefusal(new Error('Connection terminated unexpectedly'), true), null);
    assert.equal(credentialsRefusal(undefined, true), null);
  });
});

describe("a node's running executor", () => {
  let executor: Run;
  before(async () => {
    const joinString = /--join '([^']+)'/.exec(node.join)![1]!;
    executor = runExecutor(CLI, ['executor', '--join', joinString]);
    await waitFor(
      'the node executor to start',
      async () => {
        const code = await running(executor);
        if (code !== undefined) throw new Error(`it exited (${code}):\n${executor.output.join('\n')}`);
        return executor.output.some((l) => l.includes('"executor started"'));
      },
      120_000,
    );
  });
  after(async () => {
    executor.kill();
    await executor.exited;
  });

  test('keeps running when its sessions are ended while its role still exists (an outage)', async () => {
    const role = `handoff_node_${nodeId}`;
    const endedAt = (await stack.tdb.pool.query<{ at: Date }>('SELECT clock_timestamp() AS at')).rows[0]!.at;
    const { rows } = await stack.tdb.pool.query<{ ended: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE usename = $1',
      [role],
    );
    assert.ok(rows.filter((r) => r.ended).length >= 1, 'its sessions were ended');
    // it logs in again and beats: the beat after the termination proves it reconnected and went on
    await waitFor(
      'a heartbeat after its sessions were ended',
      async () => {
        const code = await running(executor);
        if (code !== undefined) throw new Error(`it exited (${code}):\n${executor.output.join('\n')}`);
        const beat = await stack.tdb.pool.query<{ at: Date }>(
          'SELECT heartbeat_at AS at FROM executors WHERE id = $1',
          [nodeId],
        );
        return beat.rows[0] && beat.rows[0].at > endedAt;
      },
      60_000,
    );
    assert.equal(await running(executor), undefined, 'still running');
    assert.ok(!executor.output.some((l) => refusedSentence.test(l)), executor.output.join('\n'));
  });

  test('stops by itself once removed: the sentence once, exit 78', async (t) => {
    const linesAtRemoval = executor.output.length;
    const removed = await stack.api<{ terminated: number }>('DELETE', `/v1/nodes/${nodeId}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const code = await waitFor('the removed node executor to exit', () => running(executor), 90_000, 100);
    assert.equal(code, EXIT_CREDENTIALS_REFUSED, executor.output.join('\n'));
    const sentences = executor.output.filter((l) => refusedSentence.test(l));
    assert.equal(sentences.length, 1, `the sentence once:\n${executor.output.join('\n')}`);
    assert.ok(
      executor.output.some((l) => l.includes('"executor stopped"')),
      'it stopped as on shutdown before exiting',
    );
    const said = executor.output.slice(linesAtRemoval).map((l) => /"msg":"([^"]*)"/.exec(l)?.[1] ?? l);
    t.diagnostic(`after its removal it said: ${said.join(' | ')}`);
  });
});

describe('a removed node started again from its node.json', () => {
  for (const [what, script, args] of [
    ['handoff executor', CLI, ['executor']],
    ['apps/executor/main.ts', EXECUTOR, []],
  ] as const) {
    test(`${what} is refused at once with the same sentence and exit 78`, async (t) => {
      // after the removal test above; alone, remove the node here
      const listed = await stack.api<{ nodes: { id: string }[] }>('GET', '/v1/nodes');
      if (listed.body.nodes.some((n) => n.id === nodeId)) await stack.api('DELETE', `/v1/nodes/${nodeId}`);
      const run = runExecutor(script, [...args]);
      const code = await waitFor('it to exit', () => running(run), 60_000, 100).finally(() => run.kill());
      assert.equal(code, EXIT_CREDENTIALS_REFUSED, run.output.join('\n'));
      assert.equal(run.output.filter((l) => refusedSentence.test(l)).length, 1, run.output.join('\n'));
      t.diagnostic(run.output.filter((l) => refusedSentence.test(l))[0]!);
    });
  }
});
