import { Option } from 'commander';
import type { Command } from 'commander';
import { DurationText, RouterUsageBy } from '@handoff/contracts';
import type { RouterUsageFigures, RouterUsageReport } from '@handoff/contracts';
import { zodParser } from '../args.ts';
import { out, withClient } from '../context.ts';
import { json, table } from '../format.ts';

/**
 * `handoff usage`: what the model router served, from its record (GET /v1/router/usage): requests,
 * errors, tokens and time to first byte and to the end, by model, node, day or token.
 */

interface UsageOptions {
  since?: string;
  by?: RouterUsageBy;
  json?: boolean;
}

const checkDuration = zodParser(DurationText);
/** Checked here, sent as typed (the API parses the same grammar). */
function parseSince(value: string): string {
  checkDuration(value);
  return value.trim();
}

/** `850ms`, `1.4s`, `2m05s`: what a person reads; `-` for no figure. */
export function millis(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const KEY_HEADER: Record<RouterUsageBy, string> = { model: 'MODEL', node: 'NODE', day: 'DAY (UTC)', token: 'TOKEN' };

export function renderUsage(report: RouterUsageReport): string {
  type Line = RouterUsageFigures & { key: string };
  const none = report.by === 'node' ? '(no node)' : report.by === 'token' ? '(no token)' : '-';
  const lines: Line[] = [
    ...report.rows.map((r) => ({ ...r, key: r.key ?? none })),
    ...(report.rows.length > 1 ? [{ ...report.totals, key: 'TOTAL' }] : []),
  ];
  const right = 'right' as const;
  const heading = `Router usage since ${report.since} by ${report.by}\n\n`;
  return (
    heading +
    table(
      lines,
      [
        { header: KEY_HEADER[report.by], value: (l) => l.key, max: 48 },
        { header: 'REQUESTS', value: (l) => l.requests, align: right },
        { header: 'ERRORS', value: (l) => l.errors, align: right },
        { header: 'ABORTED', value: (l) => l.clientAborted, align: right },
        { header: 'ESCALATED', value: (l) => l.escalated, align: right },
        { header: 'TOKENS IN', value: (l) => l.tokensIn, align: right },
        { header: 'TOKENS OUT', value: (l) => l.tokensOut, align: right },
        { header: 'TTFB P50', value: (l) => millis(l.ttfbP50Ms), align: right },
        { header: 'TTFB P95', value: (l) => millis(l.ttfbP95Ms), align: right },
        { header: 'TOTAL P50', value: (l) => millis(l.totalP50Ms), align: right },
        { header: 'TOTAL P95', value: (l) => millis(l.totalP95Ms), align: right },
      ],
      { empty: 'No routed requests in this window.' },
    )
  );
}

export function registerUsageCommand(program: Command): void {
  program
    .command('usage')
    .description('what the model router served: requests, errors, tokens, time to first byte and total')
    .addOption(new Option('--since <duration>', 'the window: 90m, 24h, 7d (default 24h)').argParser(parseSince))
    .addOption(
      new Option('--by <key>', 'one row per model asked, node, UTC day or client token (default model)').choices(
        RouterUsageBy.options,
      ),
    )
    .addOption(new Option('--json', 'print {since, by, rows, totals} as JSON'))
    .addHelpText(
      'after',
      '\nExamples:\n  handoff usage\n  handoff usage --since 7d --by day\n  handoff usage --by token --json',
    )
    .action(async (options: UsageOptions) => {
      const report = await withClient((c) => c.routerUsage({ since: options.since, by: options.by }));
      out(options.json ? json(report) : renderUsage(report));
    });
}
