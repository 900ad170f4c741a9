import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { postgresBinaries } from './binaries.ts';
import { readConfig, writeConfig } from './config.ts';
import { prepareDataDir } from './dataDir.ts';
import { withHomeLock } from './homeLock.ts';
import { joinRunning } from './join.ts';
import { launch } from './launch.ts';
import { listensAsAsked } from './listen.ts';
import { toLevelLogger } from './log.ts';
import { isRoot, postgresUser } from './osUser.ts';
import type { EmbeddedPostgresOptions, EmbeddedPostgresServer } from './server.ts';

/**
 * Starts (or joins) the embedded Postgres for `home`. A server already running on the same data
 * dir is reused: that is how `handoff coordinator` and `handoff executor` share one server; the
 * process that started it owns it and is the one that stops it. A first start that fails leaves
 * nothing behind (no data dir, no pg.json, no copy of the binaries), so the next one starts clean.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const log = toLevelLogger(opts.log);
  const home = path.resolve(opts.home);
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  const root = isRoot();

  return withHomeLock(home, async () => {
    const dataDir = await prepareDataDir(home, root, log);
    const cfgFile = path.join(home, 'pg.json');
    const cfg = await readConfig(cfgFile);
    const initialised = existsSync(path.join(dataDir.path, 'PG_VERSION'));
    if (initialised && !cfg) {
      throw new Error(
        `${dataDir.path} holds a Postgres cluster but ${cfgFile} (its password) is missing; restore it, or remove ${dataDir.path} to start afresh`,
      );
    }
    if (cfg) {
      const joined = await joinRunning(home, dataDir.path, cfg.password, log);
      if (joined && opts.listen && !(await listensAsAsked(joined.port, cfg.password, opts.listen))) {
        if (!joined.adopted) {
          throw new Error(
            `the embedded Postgres of ${home} (pid ${joined.pid}) is running already, started by another handoff process without --listen ${opts.listen.address}; stop that process first`,
          );
        }
        // left behind by a process that is gone: stopped, and started again below, listening as asked
        await joined.stop();
      } else if (joined) return joined;
    }

    let binaries: Awaited<ReturnType<typeof postgresBinaries>> | undefined;
    try {
      const runAs = root ? postgresUser() : undefined;
      binaries = await postgresBinaries({ home, runAs, packageDir: opts.binaries, log });
      return await launch({
        home,
        dataDir: dataDir.path,
        cfg,
        port: opts.port,
        binaries,
        runAs,
        listen: opts.listen,
        walArchive: opts.walArchive ?? true,
        log,
      });
    } catch (err) {
      if (!initialised) {
        // A cluster that never came up holds nothing: take back all this start made.
        await binaries?.discard();
        if (cfg) await writeConfig(cfgFile, cfg);
        else await fsp.rm(cfgFile, { force: true });
        await dataDir.discard();
      }
      throw err;
    }
  });
}
