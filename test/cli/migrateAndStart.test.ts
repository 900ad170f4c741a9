/** `handoff migrate` and `handoff start` against a DATABASE_URL, as a user runs them. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveReport } from '@handoff/contracts';
import type { TestDatabase } from '../support/database.ts';
import { assertNoStack, handoff, main, repo } from './run.ts';

const databaseUrl = process.env.DATABASE_URL;

describe(
  'handoff start, migrate',
  { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' },
  () => {
    let database: TestDatabase;
    let home: string;

    before(async () => {
      const { createTestDatabase } = await import('../support/database.ts');
      database = await createTestDatabase({ migrate: false });
      home = await mkdtemp(path.join(tmpdir(), 'handoff-cli-start-'));
    });

    after(async () => {
      await database?.drop();
      if (home) await rm(home, { recursive: true, force: true });
    });

    test('migrate applies what is missing, then has nothing to do', async () => {
      const env = { DATABASE_URL: database.url, HANDOFF_HOME: home };
      const first = await handoff(['migrate'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /Applied \d+ migrations?:\n {2}001_init\.sql/);
      assert.doesNotMatch(
        first.stdout,
        new RegExp(new URL(database.url).password || '\u0000'),
        'the password is masked',
      );
      const second = await handoff(['migrate'], env);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /Already up to date/);
    });

    test('start runs coordinator and executor, says where everything is, and stops cleanly on SIGINT', async () => {
      // isolation "none" asked for by name: warned about at start, in the live report and on the live page
      await writeFile(path.join(home, 'agent.json'), JSON.stringify({ isolation: 'none' }));
      const child = spawn(process.execPath, [main, 'start', '--port', '0', '--executor-id', 'cli-test-exec'], {
        cwd: repo,
        env: {
          ...process.env,
          NODE_TEST_CONTEXT: undefined,
          DATABASE_URL: database.url,
          HANDOFF_HOME: home,
          HANDOFF_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        const deadline = Date.now() + 60_000;
        while (!/Production runs executors/.test(stdout)) {
          if (child.exitCode !== null || Date.now() > deadline)
            assert.fail(`start did not come up:\n${stdout}\n${stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const url = /^\s+coordinator\s+(http:\/\/\S+)$/m.exec(stdout)?.[1];
        assert.ok(url, `the coordinator URL is printed:\n${stdout}`);
        // the console's one-time sign-in link, not a token in a URL
        assert.match(stdout, new RegExp(`console\\s+${url}/console/#code=[A-Za-z0-9_-]{43}\\s`));
        assert.match(stdout, new RegExp(`operator token\\s+${path.join(home, 'operator.token')}`));
        assert.match(stdout, /^\s+executor\s+cli-test-exec\b/m);
        assert.match(stdout, /^\s+postgres\s+postgres:\/\/.*\(DATABASE_URL\)$/m);
        assert.match(stdout, new RegExp(`HANDOFF_HOME\\s+${home}`));

        const live = await handoff(['live', '--json'], { HANDOFF_URL: url, HANDOFF_HOME: home });
        assert.equal(live.code, 0, live.stderr);
        const report = JSON.parse(live.stdout) as LiveReport;
        assert.ok(
          report.executors.some((e) => e.id === 'cli-test-exec'),
          'the executor sends heartbeats',
        );

        assert.match(
          stdout,
          /WARNING agent sandbox: isolation "none" \(agent\.json\): bash commands run without OS isolation/,
        );
        assert.equal(report.agent?.isolation, 'none');
        assert.match(report.agent?.warning ?? '', /isolation "none"/);
        const liveText = await handoff(['live'], { HANDOFF_URL: url, HANDOFF_HOME: home });
        assert.match(liveText.stdout, /^\s+WARNING agent sandbox: isolation "none"/m);
        const token = (await readFile(path.join(home, 'operator.token'), 'utf8')).trim();
        const page = await (await fetch(`${url}/live`, { headers: { authorization: `Bearer ${token}` } })).text();
        assert.match(page, /<p class="banner bad">Agent sandbox: isolation &quot;none&quot;/);
      } finally {
        child.kill('SIGINT');
      }
      assert.equal(await exited, 0, `exit code after SIGINT:\n${stdout}\n${stderr}`);
      assert.match(stdout, /stopping executor cli-test-exec[\s\S]*stopping coordinator[\s\S]*stopped\./);
      assertNoStack(stderr);
    });
  },
);
