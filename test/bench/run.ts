/**
 * `npm run bench [-- --json] [-- --quick] [-- --only=throughput,pickup]`: the benchmarks of issue 6,
 * each figure beside a baseline measured in the same run on the same Postgres, so that the ratio
 * holds on a noisy machine.
 *
 *   throughput   noop intents to success receipt with 2 executor processes (end to end, drain);
 *                baselines bare pg-boss, bare SQL, graphile-worker          (throughput.ts)
 *   pickup       approval -> connector call, idle, under load, two sweep settings; bare pg-boss
 *                send -> handler with LISTEN/NOTIFY                         (pickup.ts)
 *   create-api   POST /v1/intents with autocannon at 50 connections; a trivial Fastify route
 *                                                                           (createApi.ts)
 *   footprint    RSS of coordinator and executor processes, idle and under load; bare node
 *                                                                           (footprint.ts)
 *   router       the model router's figures                                 (router.ts, another module)
 *   restore      RTO: handoff restore of 100k intents; an empty installation (restore.ts)
 *
 * Uses DATABASE_URL when set, otherwise an embedded Postgres under .handoff/bench-home. Progress
 * goes to stderr; stdout has the table, or with --json only JSON. Exit code 1 if a section failed.
 */
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres, stopOnSignals } from '@handoff/db';
import { databaseUrlFor } from '../support/database.ts';
import { createApiBench } from './createApi.ts';
import { footprintBench } from './footprint.ts';
import { pickupBench } from './pickup.ts';
import { restoreBench } from './restore.ts';
import type { BenchFigure, BenchOptions, BenchSection } from './report.ts';
import { renderTable } from './table.ts';
import { throughputBench } from './throughput.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** router.ts is another module's: loaded only when its section runs, so that a missing or broken file fails that section alone. */
const routerBench: BenchSection = async (opts) => {
  const path = './router.ts';
  let mod: { routerBench?: unknown };
  try {
    mod = (await import(path)) as { routerBench?: unknown };
  } catch (err) {
    throw new Error(`cannot load test/bench/router.ts: ${(err as Error).message}`, { cause: err });
  }
  if (typeof mod.routerBench !== 'function')
    throw new Error('test/bench/router.ts does not export a function routerBench(opts)');
  return (mod.routerBench as BenchSection)(opts);
};

const SECTIONS: Record<string, BenchSection> = {
  throughput: throughputBench,
  pickup: pickupBench,
  'create-api': createApiBench,
  footprint: footprintBench,
  router: routerBench,
  restore: (opts) => restoreBench(opts),
};

function parseArgs(argv: string[]): BenchOptions & { only: string[] } {
  const known = new Set(['--json', '--quick']);
  let only = Object.keys(SECTIONS);
  for (const arg of argv) {
    if (arg.startsWith('--only=')) {
      only = arg
        .slice('--only='.length)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = only.filter((s) => !(s in SECTIONS));
      if (unknown.length > 0 || only.length === 0) {
        throw new Error(
          `--only: unknown section ${unknown.join(', ') || '(none given)'}; sections are ${Object.keys(SECTIONS).join(', ')}`,
        );
      }
    } else if (!known.has(arg)) {
      throw new Error(`unknown argument ${arg}; use --json, --quick, --only=${Object.keys(SECTIONS).join(',')}`);
    }
  }
  return { json: argv.includes('--json'), quick: argv.includes('--quick'), only };
}

async function postgresVersion(serverUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrlFor(serverUrl, 'postgres') });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  } finally {
    await client.end().catch(() => {});
  }
}

let opts: ReturnType<typeof parseArgs>;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(2);
}

let stopEmbedded: (() => Promise<void>) | null = null;
if (!process.env.DATABASE_URL) {
  process.stderr.write('bench: starting the embedded Postgres (.handoff/bench-home)\n');
  const server = await startEmbeddedPostgres({ home: join(repo, '.handoff', 'bench-home') });
  process.env.DATABASE_URL = server.url;
  stopEmbedded = server.stop;
  // Postgres runs in its own process group, so Ctrl-C does not reach it: stop it on the way out
  stopOnSignals(server.stop);
}
const figures: BenchFigure[] = [];
const errors: { section: string; message: string }[] = [];
const startedAt = new Date();
const postgres = await postgresVersion(process.env.DATABASE_URL).catch(
  (err: unknown) => `unknown (${(err as Error).message})`,
);
try {
  for (const name of opts.only) {
    const t0 = performance.now();
    process.stderr.write(`bench ${name}: start${opts.quick ? ' (quick)' : ''}\n`);
    try {
      figures.push(...(await SECTIONS[name]!(opts)));
      process.stderr.write(`bench ${name}: done in ${Math.round((performance.now() - t0) / 1000)} s\n`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      errors.push({ section: name, message });
      process.stderr.write(`bench ${name}: FAILED: ${message}\n`);
    }
  }
} finally {
  await stopEmbedded?.();
}

const machine = { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, postgres };
if (opts.json) {
  console.log(
    JSON.stringify(
      { startedAt: startedAt.toISOString(), quick: opts.quick, sections: opts.only, machine, figures, errors },
      null,
      2,
    ),
  );
} else {
  console.log(
    `handoff bench, ${startedAt.toISOString()}: ${machine.cpus} cores, ${machine.memoryGiB} GiB, node ${machine.node}, Postgres ${postgres}${opts.quick ? ' (quick)' : ''}\n`,
  );
  console.log(renderTable(figures));
  for (const e of errors) console.log(`\nsection ${e.section} FAILED: ${e.message}`);
}
process.exitCode = errors.length > 0 ? 1 : 0;
