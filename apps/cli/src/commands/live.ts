import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { LiveReport } from '@handoff/contracts';
import { err, out, withClient } from '../context.ts';
import { CoordinatorTimeout, CoordinatorUnreachable, describeError } from '../errors.ts';
import { age, heading, json, table, timestamp } from '../format.ts';
import { renderGates } from './gates.ts';

/**
 * `handoff live`: what is live right now, in the same sections as the console. `--watch` asks again
 * every `--interval` seconds until interrupted: on a terminal the screen is redrawn, elsewhere each
 * report follows the last (with `--json`, one report per line).
 */

const CLEAR_SCREEN = '\u001b[H\u001b[2J';

function parseInterval(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n < 0.5 || n > 3600)
    throw new InvalidArgumentError('must be a number of seconds from 0.5 to 3600');
  return n;
}

export function registerLiveCommand(program: Command): void {
  program
    .command('live')
    .description(
      "what's live: gates, executors, breakers, rate limits, queues, in flight, recent receipts, dead, in doubt",
    )
    .addOption(new Option('--json', 'print the raw JSON answer (the LiveReport)'))
    .addOption(new Option('--watch', 'keep asking and redrawing until interrupted (Ctrl-C)'))
    .addOption(
      new Option('--interval <seconds>', 'with --watch: seconds between reports (default 2)').argParser(parseInterval),
    )
    .action(async (options: { json?: boolean; watch?: boolean; interval?: number }) => {
      if (!options.watch) {
        const body = await withClient((c) => c.live());
        if (options.json) return out(json(body));
        out(renderLive(body));
        return;
      }
      const tty = process.stdout.isTTY === true && !options.json;
      for (let first = true; ; first = false) {
        try {
          const body = await withClient((c) => c.live());
          if (options.json) out(JSON.stringify(body));
          else out(`${tty ? CLEAR_SCREEN : first ? '' : '\n'}${renderLive(body)}`);
        } catch (error) {
          // a coordinator restarting is worth waiting for; a refused token is not
          const waitable = error instanceof CoordinatorUnreachable || error instanceof CoordinatorTimeout;
          const described = describeError(error);
          if (described.fatal && !waitable) throw error;
          err(options.json ? described.json : `${described.line} (trying again)`);
        }
        await sleep((options.interval ?? 2) * 1000);
      }
    });
}

const I = '  ';

/** `v3`, `v2 (v3 published)` when behind, `local` for an executor following its own policy.json. */
function policyCell(applied: number | null | undefined, published: number | undefined): string {
  if (applied === null || applied === undefined) return 'local';
  return published !== undefined && applied !== published ? `v${applied} (v${published} published)` : `v${applied}`;
}

/** The executor's clock against the database's; leases never depend on it. */
function skewCell(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (Math.abs(ms) < 1000) return 'ok';
  return `${ms > 0 ? '+' : '-'}${Math.round(Math.abs(ms) / 1000)}s`;
}

/** Ages are measured against the report's own clock, so a skewed laptop clock does not mislead. */
export function renderLive(report: LiveReport): string {
  const generated = Date.parse(report.generatedAt);
  const now = Number.isNaN(generated) ? Date.now() : generated;
  const sections: string[] = [];
  const section = (title: string, body: string): void => {
    sections.push(heading(title) + body);
  };

  const counts = Object.entries(report.counts ?? {})
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${state} ${n}`)
    .join(', ');
  // The agent's sandbox is shown only when something weakens it: then it comes first.
  const agentWarning = report.agent?.warning ? `${I}WARNING agent sandbox: ${report.agent.warning}\n` : '';
  sections.push(
    `handoff live at ${timestamp(report.generatedAt, Date.now())}\n${agentWarning}${I}intents: ${counts || 'none'}\n`,
  );

  section('gates', renderGates(report.gates ?? [], now, I));

  section(
    'executors',
    table(
      report.executors ?? [],
      [
        { header: 'ID', value: (e) => e.id, max: 28 },
        { header: 'HOST', value: (e) => `${e.host}:${e.pid}`, max: 28 },
        { header: 'HEARTBEAT', value: (e) => age(e.heartbeatAt, now) },
        { header: 'STATUS', value: (e) => (e.stale ? `STALE (${e.status})` : e.status), max: 24 },
        { header: 'LOCAL GATE', value: (e) => (e.localGateEnabled ? 'open' : 'CLOSED') },
        // which fleet policy each executor applies, so drift shows (decision 89); its clock's skew
        { header: 'POLICY', value: (e) => policyCell(e.policyVersion, report.policy?.version) },
        { header: 'CLOCK', value: (e) => skewCell(e.clockSkewMs) },
        { header: 'IN FLIGHT', value: (e) => e.inFlight, align: 'right' },
        { header: 'CHANNELS', value: (e) => e.channels.join(',') || '-', max: 40 },
        { header: 'UP', value: (e) => age(e.startedAt, now).replace(/ ago$/, '') },
      ],
      {
        indent: I,
        empty: 'No executor has sent a heartbeat: approved intents wait until one runs (`handoff executor`).',
      },
    ),
  );

  section(
    'breakers',
    table(
      report.breakers ?? [],
      [
        { header: 'KEY', value: (b) => b.key, max: 60 }, // webhook keys name a receiver: channel:account@host:port
        { header: 'EXECUTOR', value: (b) => b.executorId, max: 28 },
        { header: 'STATE', value: (b) => (b.state === 'closed' ? 'closed' : b.state.toUpperCase()) },
        { header: 'FAILURES', value: (b) => b.failures, align: 'right' },
        { header: 'OPENED', value: (b) => age(b.openedAt, now) },
      ],
      { indent: I, empty: 'No breaker has tripped.' },
    ),
  );

  section(
    'rate limits',
    table(
      report.rateLimits ?? [],
      [
        { header: 'KEY', value: (r) => r.key, max: 40 },
        { header: 'TOKENS', value: (r) => `${formatNumber(r.tokens)}/${formatNumber(r.capacity)}`, align: 'right' },
        { header: 'REFILL/S', value: (r) => formatNumber(r.refillPerSecond), align: 'right' },
        {
          header: 'BLOCKED UNTIL',
          value: (r) => (r.blockedUntil && Date.parse(r.blockedUntil) > now ? age(r.blockedUntil, now) : '-'),
        },
      ],
      { indent: I, empty: 'No rate limits configured (policy.json "rateLimits").' },
    ),
  );

  if (report.modelNodes) {
    section(
      'model nodes',
      table(
        report.modelNodes,
        [
          { header: 'NODE', value: (n) => n.id, max: 24 },
          { header: 'KIND', value: (n) => n.kind },
          { header: 'MODELS', value: (n) => n.models.join(','), max: 40 },
          { header: 'STATE', value: (n) => (n.state === 'healthy' ? n.state : n.state.toUpperCase()) },
          { header: 'BREAKER', value: (n) => n.breaker },
          {
            header: 'LATENCY',
            value: (n) => (n.latencyMs === null ? '-' : `${Math.round(n.latencyMs)} ms`),
            align: 'right',
          },
          { header: 'LAST ERROR', value: (n) => n.lastError ?? '-', max: 48 },
        ],
        { indent: I, empty: 'No model nodes in nodes.json.' },
      ),
    );
  }

  section(
    'queues',
    table(
      report.queues ?? [],
      [
        { header: 'CHANNEL', value: (q) => q.channel, max: 32 },
        { header: 'PENDING APPROVAL', value: (q) => q.pendingApproval, align: 'right' },
        { header: 'READY', value: (q) => q.ready, align: 'right' },
        { header: 'SCHEDULED', value: (q) => q.scheduled, align: 'right' },
        { header: 'RUNNING', value: (q) => q.running, align: 'right' },
      ],
      { indent: I, empty: 'All queues empty.' },
    ),
  );

  section(
    'in flight',
    table(
      report.inFlight ?? [],
      [
        { header: 'ID', value: (i) => i.id, max: Infinity },
        { header: 'CHANNEL:ACCOUNT', value: (i) => `${i.channel}:${i.account}`, max: 32 },
        { header: 'KEY', value: (i) => i.idempotencyKey, max: 24 },
        { header: 'LEASE OWNER', value: (i) => i.leaseOwner, max: 28 },
        { header: 'EPOCH', value: (i) => i.leaseEpoch, align: 'right' },
        { header: 'TRY', value: (i) => i.attemptCount, align: 'right' },
        { header: 'EXPIRES', value: (i) => leaseExpiry(i.leaseExpiresAt, now) },
      ],
      { indent: I, empty: 'Nothing in flight.' },
    ),
  );

  section(
    'recent receipts',
    table(
      report.recentReceipts ?? [],
      [
        { header: 'WHEN', value: (r) => age(r.createdAt, now) },
        { header: 'INTENT', value: (r) => r.intentId, max: Infinity },
        { header: 'CHANNEL:ACCOUNT', value: (r) => `${r.channel}:${r.account}`, max: 32 },
        { header: 'KIND', value: (r) => r.kind },
        { header: 'EXTERNAL ID', value: (r) => r.externalId, max: 28 },
        {
          header: 'URL / ERROR',
          value: (r) => (r.kind === 'success' ? r.url : `${r.errorClass ?? 'error'}: ${r.errorMessage ?? ''}`),
          max: 80,
        },
      ],
      { indent: I, empty: 'No receipts yet.' },
    ),
  );

  const stuck = (title: string, rows: LiveReport['dead'], empty: string, hint: string): void =>
    section(
      title,
      table(
        rows ?? [],
        [
          { header: 'ID', value: (i) => i.id, max: Infinity },
          { header: 'CHANNEL:ACCOUNT', value: (i) => `${i.channel}:${i.account}`, max: 32 },
          { header: 'KEY', value: (i) => i.idempotencyKey, max: 24 },
          { header: 'SINCE', value: (i) => age(i.updatedAt, now) },
          { header: 'LAST ERROR', value: (i) => i.lastError, max: 60 },
        ],
        { indent: I, empty },
      ) + ((rows ?? []).length > 0 ? `${I}${hint}\n` : ''),
    );
  stuck('dead', report.dead, 'None.', 'Requeue with `handoff retry <id>`.');
  stuck(
    'in doubt',
    report.inDoubt,
    'None.',
    'Check the provider, then `handoff resolve <id> --external-id X` if it happened or `handoff retry <id>` if not.',
  );

  return sections.join('\n');
}

function leaseExpiry(iso: string | null, now: number): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  return at <= now ? `EXPIRED ${age(iso, now)}` : age(iso, now);
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1);
}
