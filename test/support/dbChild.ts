/**
 * A second process for test/db.test.ts. Prints one JSON line on stdout.
 *   migrate <url> <dir>   run migrate() against url with migrations from dir
 *   own <home>            start the embedded Postgres and own it until SIGINT/SIGTERM
 *   own-exit <home>       start it, then process.exit(0) without calling stop()
 */
import { createPool, migrate, startEmbeddedPostgres, stopOnSignals } from '@handoff/db';

const [mode, a, b] = process.argv.slice(2);

if (mode === 'migrate' && a && b) {
  const pool = createPool(a, { max: 2 });
  const result = await migrate(pool, { dir: b });
  await pool.end();
  console.log(JSON.stringify(result));
} else if ((mode === 'own' || mode === 'own-exit') && a) {
  const server = await startEmbeddedPostgres({ home: a });
  console.log(JSON.stringify({ url: server.url, pid: server.pid, dataDir: server.dataDir, reused: server.reused }));
  if (mode === 'own-exit') process.exit(0);
  stopOnSignals(server.stop);
} else {
  console.error('usage: dbChild.ts migrate <url> <dir> | own <home> | own-exit <home>');
  process.exit(2);
}
