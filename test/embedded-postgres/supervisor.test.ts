import assert from 'node:assert/strict';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmbeddedPostgres, superviseEmbeddedPostgres } from '@handoff/embedded-postgres';
import { queryRows as query } from '../support/database.ts';
import { freePort } from '../support/ports.ts';
import { tempHome } from './support.ts';

describe('supervised embedded Postgres', () => {
  test('a supervised server killed with SIGKILL comes back on its URL; one that cannot come back is reported lost', async () => {
    const home = tempHome();
    // Not the default port: another test's server may take that one while this one is down.
    const first = await startEmbeddedPostgres({ home, port: await freePort() });
    const lines: string[] = [];
    const log = {
      debug: () => {},
      info: (m: string) => lines.push(m),
      warn: (m: string) => lines.push(m),
      error: (m: string) => lines.push(m),
    };
    let lost: (err: Error) => void = () => {};
    const lostErr = new Promise<Error>((resolve) => (lost = resolve));
    const supervised = superviseEmbeddedPostgres(first, {
      home,
      log,
      onLost: (err) => lost(err),
      attempts: 2,
      firstDelayMs: 50,
    });
    try {
      process.kill(first.pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      for (;;) {
        // Postgres may accept connections a moment before the supervisor's start() resolves and it says so
        const back = lines.some((l) => l.includes('embedded Postgres is back'));
        const ok =
          back &&
          (await query(supervised.url, 'SELECT 1 AS one').then(
            () => true,
            () => false,
          ));
        if (ok) break;
        if (Date.now() > deadline) assert.fail(`not back within 30 s:\n${lines.join('\n')}`);
        await sleep(50);
      }

      // Postgres refuses a data directory that others may write to: every attempt fails
      const pid = Number.parseInt(readFileSync(path.join(first.dataDir, 'postmaster.pid'), 'utf8'), 10);
      chmodSync(first.dataDir, 0o777);
      process.kill(pid, 'SIGKILL');
      const err = await lostErr;
      assert.match(err.message, /could not be restarted \(2 restart attempts failed, the last: .*permissions/);
    } finally {
      chmodSync(first.dataDir, 0o700);
      await supervised.stop();
    }
  });

  test('a supervised server that keeps dying is reported lost, not restarted for ever', async () => {
    const home = tempHome();
    const first = await startEmbeddedPostgres({ home, port: await freePort() });
    const backs: number[] = [];
    const log = {
      debug: () => {},
      info: () => {},
      // the supervisor names the new postmaster once its restart has finished and it watches it again
      warn: (m: string) => {
        const pid = /embedded Postgres is back \(pid (\d+)/.exec(m)?.[1];
        if (pid) backs.push(Number(pid));
      },
      error: () => {},
    };
    let lost: (err: Error) => void = () => {};
    const lostErr = new Promise<Error>((resolve) => (lost = resolve));
    const supervised = superviseEmbeddedPostgres(first, {
      home,
      log,
      onLost: (err) => lost(err),
      firstDelayMs: 20,
      maxDeathsInWindow: 2,
    });
    try {
      let victim = first.pid;
      for (let death = 1; death <= 2; death++) {
        // killed while a restart is still under way would be a failed attempt, not a second death
        process.kill(victim, 'SIGKILL');
        const deadline = Date.now() + 30_000;
        while (backs.length < death) {
          if (Date.now() > deadline) assert.fail(`not back after death ${death}`);
          await sleep(50);
        }
        victim = backs[death - 1]!;
        await query(supervised.url, 'SELECT 1');
      }
      process.kill(victim, 'SIGKILL');
      assert.match((await lostErr).message, /could not be restarted \(it died 3 times in 10 minutes\)/);
    } finally {
      await supervised.stop();
    }
  });
});
