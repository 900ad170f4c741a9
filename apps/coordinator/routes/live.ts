import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LiveReport } from '@handoff/contracts';
import type { AgentService } from '@handoff/agent';
import type { Router } from '@handoff/router';

/** Seconds between reloads of the /live page. */
export const LIVE_REFRESH_SECONDS = 2;

/** GET /v1/live (JSON) and GET /live (the same report as a page). No prefix. */
export const liveRoutes: FastifyPluginAsyncZod<{ router?: Router; agent?: AgentService }> = async (app, opts) => {
  // the intents' report, plus the model router's nodes and the agent's sandbox when they run here
  const report = async (): Promise<LiveReport> => {
    const live: LiveReport = await app.intents.live();
    if (opts.router) live.modelNodes = opts.router.nodes();
    if (opts.agent) {
      const { isolation, isolationDetail, isolationWarning } = opts.agent.health();
      live.agent = { isolation, isolationDetail, warning: isolationWarning };
    }
    return live;
  };
  app.get('/v1/live', { config: { access: 'viewer' } }, report);

  // The flat page for a signed-in browser (the console's session cookie) or a script with a bearer
  // token. A token in the URL (`?token=`) is no longer read anywhere: the console replaced it.
  app.get('/live', { config: { access: 'viewer' } }, async (_request, reply) => {
    const live = await report();
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      )
      .send(renderLivePage(live));
  });
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'string'
        ? value
        : (JSON.stringify(value) ?? String(value));
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** A cell: plain text (escaped here), optionally with a CSS class from a fixed list. */
type Cell = string | number | boolean | null | undefined | { text: unknown; cls: 'bad' | 'ok' | 'warn' | 'muted' };

function cell(value: Cell): string {
  if (value !== null && typeof value === 'object') return `<td class="${value.cls}">${escapeHtml(value.text)}</td>`;
  return `<td>${escapeHtml(value)}</td>`;
}

function table(title: string, headers: string[], rows: Cell[][]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body =
    rows.length === 0
      ? `<tr><td class="muted" colspan="${headers.length}">none</td></tr>`
      : rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  return `<section><h2>${escapeHtml(title)} <span class="muted">(${rows.length})</span></h2>\n<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></section>`;
}

const target = (r: { channel: string; account: string }): string => `${r.channel}:${r.account}`;

export function renderLivePage(report: LiveReport): string {
  const closed = new Set(report.gatesClosed);
  const banner =
    (report.gatesClosed.length > 0
      ? `<p class="banner bad">Closed gates: ${escapeHtml(report.gatesClosed.join(', '))}</p>`
      : `<p class="banner ok">All gates open</p>`) +
    (report.agent?.warning ? `\n<p class="banner bad">Agent sandbox: ${escapeHtml(report.agent.warning)}</p>` : '');
  const counts = Object.entries(report.counts)
    .map(([state, n]) => `<span class="count">${escapeHtml(state)}: <b>${escapeHtml(n)}</b></span>`)
    .join(' ');

  const sections = [
    table(
      'Gates',
      ['scope', 'state', 'reason', 'updated by', 'updated at'],
      report.gates.map((g) => [
        g.scope,
        g.enabled && !closed.has(g.scope) ? { text: 'open', cls: 'ok' } : { text: 'closed', cls: 'bad' },
        g.reason,
        g.updatedBy,
        g.updatedAt,
      ]),
    ),
    table(
      'Executors',
      ['id', 'host', 'pid', 'status', 'heartbeat', 'channels', 'local gate', 'in flight'],
      report.executors.map((e) => [
        e.id,
        e.host,
        e.pid,
        e.stale ? { text: `${e.status} (stale)`, cls: 'bad' } : e.status,
        e.heartbeatAt,
        e.channels.join(', '),
        e.localGateEnabled ? { text: 'open', cls: 'ok' } : { text: 'closed', cls: 'bad' },
        e.inFlight,
      ]),
    ),
    table(
      'Breakers',
      ['executor', 'key', 'state', 'failures', 'opened at'],
      report.breakers.map((b) => [
        b.executorId,
        b.key,
        b.state === 'closed'
          ? { text: b.state, cls: 'ok' }
          : { text: b.state, cls: b.state === 'open' ? 'bad' : 'warn' },
        b.failures,
        b.openedAt,
      ]),
    ),
    table(
      'Rate limits',
      ['key', 'tokens', 'capacity', 'refill/s', 'blocked until'],
      report.rateLimits.map((l) => [
        l.key,
        l.tokens < 1 ? { text: l.tokens.toFixed(2), cls: 'warn' } : l.tokens.toFixed(2),
        l.capacity,
        l.refillPerSecond,
        l.blockedUntil ? { text: l.blockedUntil, cls: 'bad' } : null,
      ]),
    ),
    table(
      'Model nodes',
      ['node', 'kind', 'models', 'state', 'breaker', 'latency ms', 'last error'],
      (report.modelNodes ?? []).map((n) => [
        n.id,
        n.kind,
        n.models.join(', '),
        n.state === 'healthy' ? { text: n.state, cls: 'ok' } : { text: n.state, cls: 'bad' },
        n.breaker === 'closed' ? { text: n.breaker, cls: 'ok' } : { text: n.breaker, cls: 'bad' },
        n.latencyMs,
        n.lastError,
      ]),
    ),
    table(
      'Queues',
      ['channel', 'pending approval', 'ready', 'scheduled', 'running'],
      report.queues.map((q) => [q.channel, q.pendingApproval, q.ready, q.scheduled, q.running]),
    ),
    table(
      'In flight',
      ['intent', 'target', 'idempotency key', 'lease owner', 'epoch', 'lease expires', 'attempts'],
      report.inFlight.map((i) => [
        i.id,
        target(i),
        i.idempotencyKey,
        i.leaseOwner,
        i.leaseEpoch,
        i.leaseExpiresAt,
        i.attemptCount,
      ]),
    ),
    table(
      'Recent receipts',
      ['at', 'target', 'idempotency key', 'kind', 'source', 'external id', 'url / error'],
      report.recentReceipts.map((r) => [
        r.createdAt,
        target(r),
        r.idempotencyKey,
        r.kind === 'success' ? { text: r.kind, cls: 'ok' } : { text: r.kind, cls: 'bad' },
        r.source,
        r.externalId,
        r.kind === 'success' ? r.url : [r.errorClass, r.errorMessage].filter(Boolean).join(': '),
      ]),
    ),
    table(
      'Dead',
      ['intent', 'target', 'idempotency key', 'last error', 'updated'],
      report.dead.map((d) => [d.id, target(d), d.idempotencyKey, d.lastError, d.updatedAt]),
    ),
    table(
      'In doubt',
      ['intent', 'target', 'idempotency key', 'last error', 'updated'],
      report.inDoubt.map((d) => [d.id, target(d), d.idempotencyKey, d.lastError, d.updatedAt]),
    ),
  ];

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${LIVE_REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>handoff live</title>
<style>
  body { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 1.5em; color: #1d1d1f; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 .3em; }
  h2 { font-size: 14px; margin: 1.4em 0 .4em; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; word-break: break-all; }
  th { background: #f0f0f0; font-weight: 600; }
  .muted { color: #888; }
  .ok { color: #17803d; }
  .warn { color: #a15c00; }
  .bad { color: #b3261e; font-weight: 600; }
  .banner { padding: .4em .6em; border: 1px solid currentColor; display: inline-block; }
  .count { margin-right: 1em; }
</style>
</head>
<body>
<h1>handoff live</h1>
<p class="muted">generated ${escapeHtml(report.generatedAt)}; reloads every ${LIVE_REFRESH_SECONDS} s</p>
${banner}
<p>${counts}</p>
${sections.join('\n')}
</body>
</html>
`;
}
