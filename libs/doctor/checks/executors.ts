import { sql } from 'kysely';
import type { DoctorCheck, DoctorStatus } from '@handoff/contracts';
import { worstStatus } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { HEARTBEAT_STALE_SECONDS } from '@handoff/intents';
import { ageText, line } from './check.ts';

/** Executors silent longer than this are left out: a machine retired without `handoff node remove`. */
export const EXECUTOR_FORGOTTEN_DAYS = 7;
/** Leases use the database's clock (decision 91), so skew only misleads logs and certificates: warn, then fail. */
export const SKEW_WARN_MS = 5_000;
export const SKEW_FAIL_MS = 300_000;

interface Row {
  id: string;
  host: string;
  status: string;
  stale: boolean;
  silent_ms: number;
  handoff_version: string | null;
  schema_version: number | null;
  policy_version: number | null;
  skew_ms: number | null;
}

export interface ExecutorExpectations {
  /** handoff's version where the doctor runs (the coordinator's). */
  version: string;
  /** The database's schema version. */
  schemaVersion: number;
}

/**
 * One line per executor seen in the last week (heartbeat, version, schema, policy version, clock
 * skew), one per registered node never seen, and a fail when no executor is alive at all.
 */
export async function executorChecks(db: Db, expect: ExecutorExpectations): Promise<DoctorCheck[]> {
  const [executors, published, nodes] = await Promise.all([
    sql<Row>`
      SELECT id, host, status,
        heartbeat_at < clock_timestamp() - make_interval(secs => ${HEARTBEAT_STALE_SECONDS}) AS stale,
        (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::float8 AS silent_ms,
        handoff_version, schema_version, policy_version,
        (extract(epoch FROM reported_clock - heartbeat_at) * 1000)::float8 AS skew_ms
      FROM executors
      WHERE heartbeat_at > clock_timestamp() - make_interval(days => ${EXECUTOR_FORGOTTEN_DAYS})
      ORDER BY id`.execute(db),
    sql<{ version: number }>`SELECT max(version) AS version FROM fleet_policy`.execute(db),
    sql<{ id: string; seen: boolean }>`
      SELECT id, id IN (SELECT id FROM executors) AS seen FROM nodes ORDER BY id`.execute(db),
  ]);
  const registered = new Set(nodes.rows.map((n) => n.id));
  // a node is removed with `handoff node remove`; an executor on the owner's connection drops out after a week
  const goneForGood = (id: string): string =>
    registered.has(id)
      ? `if it is gone for good: \`handoff node remove ${id}\``
      : `if it is gone for good, it leaves this report ${EXECUTOR_FORGOTTEN_DAYS} days after its last heartbeat`;
  const policyVersion = published.rows[0]?.version ?? null;
  const checks: DoctorCheck[] = [];
  for (const e of executors.rows) {
    const findings: [DoctorStatus, string, string][] = [];
    const silent = ageText(e.silent_ms);
    // a clean stop is still a node that performs nothing: said until it runs again, is removed, or a week passes
    if (e.status === 'stopped')
      findings.push([
        'warn',
        `stopped cleanly ${silent} ago (on ${e.host})`,
        `start it again on ${e.host} if it should run; ${goneForGood(e.id)}`,
      ]);
    else if (e.stale)
      findings.push([
        'warn',
        `no heartbeat for ${silent} (last status ${e.status}, on ${e.host}): it died or lost the database`,
        `start it again on ${e.host} (\`handoff executor\`); ${goneForGood(e.id)}`,
      ]);
    else findings.push(['ok', `heartbeat ${silent} ago (${e.status})`, '']);
    const live = e.status !== 'stopped' && !e.stale;
    if (live && e.handoff_version !== null && e.handoff_version !== expect.version)
      findings.push([
        'warn',
        `runs handoff ${e.handoff_version}, the coordinator ${expect.version}`,
        `upgrade handoff on ${e.host} and restart the executor`,
      ]);
    if (live && e.schema_version !== null && e.schema_version !== expect.schemaVersion)
      findings.push([
        'warn',
        `expects schema version ${e.schema_version}, the database is at ${expect.schemaVersion}`,
        `upgrade handoff on ${e.host} and restart the executor`,
      ]);
    if (live && policyVersion !== null && e.policy_version !== null && e.policy_version !== policyVersion)
      findings.push([
        'warn',
        `applies policy v${e.policy_version}, v${policyVersion} is published`,
        `restart the executor on ${e.host} if it does not follow within a minute`,
      ]);
    if (live && e.skew_ms !== null && Math.abs(e.skew_ms) >= SKEW_WARN_MS) {
      const by = `${e.skew_ms > 0 ? 'ahead of' : 'behind'} the database by ${ageText(Math.abs(e.skew_ms))}`;
      findings.push([
        Math.abs(e.skew_ms) >= SKEW_FAIL_MS ? 'fail' : 'warn',
        `its clock is ${by}`,
        `turn on time sync on ${e.host} (timedatectl set-ntp true, or the macOS date & time settings)`,
      ]);
    }
    const status = worstStatus(findings.map(([s]) => s));
    const shown = status === 'ok' ? findings : findings.filter(([s]) => s !== 'ok');
    checks.push(
      line(
        `executor:${e.id}`,
        status,
        shown.map(([, f]) => f).join('; '),
        shown
          .map(([, , t]) => t)
          .filter(Boolean)
          .join('; '),
      ),
    );
  }
  for (const n of nodes.rows.filter((row) => !row.seen))
    checks.push(
      line(
        `executor:${n.id}`,
        'warn',
        'registered as a node but has never sent a heartbeat',
        `run \`handoff executor --join ...\` on that machine, or \`handoff node remove ${n.id}\` if it will not join`,
      ),
    );
  const alive = executors.rows.filter((e) => e.status !== 'stopped' && !e.stale).length;
  checks.push(
    alive > 0
      ? line('executors', 'ok', `${alive} executor(s) alive`)
      : line(
          'executors',
          'fail',
          'no executor is alive: approved intents wait and nothing is performed',
          'start one: `handoff start` runs one in the coordinator, `handoff executor` on its own',
        ),
  );
  return checks;
}
