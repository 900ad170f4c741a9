import { Option } from 'commander';
import type { Command } from 'commander';
import { IdempotencyKey, IdPrefix } from '@handoff/contracts';
import type {
  CommandApproval,
  CommandApprovalState,
  Hold,
  Intent,
  IntentDetail,
  IntentList,
  IntentState,
  IntentSummary,
} from '@handoff/contracts';
import {
  isFullId,
  parseAccount,
  parseChannel,
  parseIdRef,
  parseIdRefs,
  parseLimit,
  parseReason,
  parseState,
  parseText,
  zodParser,
} from '../args.ts';
import type { CoordinatorClient, IntentFilter, PageRequest } from '../client.ts';
import { err, out, withClient } from '../context.ts';
import { CliError, CoordinatorError, UsageError, describeError } from '../errors.ts';
import { age, heading, json, keyValues, table, timestamp } from '../format.ts';
import type { Column } from '../format.ts';

/** pending, list, show, approve, reject, retry, resolve. */

interface ListOptions {
  state?: IntentState;
  channel?: string;
  account?: string;
  limit?: number;
  json?: boolean;
}

const jsonOption = (): Option => new Option('--json', 'print the raw JSON answer');

const target = (i: Pick<Intent, 'channel' | 'account'>): string => `${i.channel}:${i.account}`;

const parseKey = zodParser(IdempotencyKey);

export function registerIntentCommands(program: Command): void {
  program
    .command('pending')
    .description('intents waiting for approval, oldest first')
    .addOption(new Option('--channel <channel>', 'only this channel').argParser(parseChannel))
    .addOption(new Option('--account <account>', 'only this account').argParser(parseAccount))
    .addOption(new Option('--limit <n>', 'at most this many (1-1000)').argParser(parseLimit))
    .addOption(jsonOption())
    .action(async (options: ListOptions) => {
      const [body, commands] = await withClient(async (c) => [
        await listPages(c, {
          state: 'pending_approval',
          channel: options.channel,
          account: options.account,
          limit: options.limit,
        }),
        // Command approvals (the agent's exec guard) wait for the same people; a filter by channel leaves them out.
        options.channel || options.account ? [] : await pendingCommands(c),
      ]);
      if (options.json) return out(json(commands.length > 0 ? { ...body, commands } : body));
      const intents = [...body.intents].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      const now = Date.now();
      out(
        table(
          intents,
          [
            { header: 'ID', value: (i) => i.id, max: Infinity },
            { header: 'CHANNEL:ACCOUNT', value: target, max: 32 },
            { header: 'KEY', value: (i) => i.idempotencyKey, max: 28 },
            { header: 'PAYLOAD', value: (i) => i.payloadExcerpt, max: 48 },
            { header: 'CREATED', value: (i) => age(i.createdAt, now) },
          ],
          { empty: 'Nothing waiting for approval.' },
        ),
      );
      if (intents.length > 0)
        out(
          `\n${intents.length} waiting. Inspect with \`handoff show <id>\`, decide with \`handoff approve <id>\` or \`handoff reject <id> --reason TEXT\`.`,
        );
      if (commands.length > 0) {
        // Never a truncated table: a person decides on the whole command, where it runs and why it was asked.
        out(`\nCommands the agent wants to run (exec guard: ask):\n`);
        for (const a of commands) out(renderCommandApproval(a, now, '  '));
        out(
          `${commands.length} command(s) waiting. Decide with \`handoff approve <id>\` or \`handoff reject <id> --reason TEXT\`; unanswered ones expire (deny).`,
        );
      }
    });

  program
    .command('list')
    .description('intents, newest first, optionally filtered by state and channel')
    .addOption(new Option('--state <state>', 'only intents in this state').argParser(parseState))
    .addOption(new Option('--channel <channel>', 'only this channel').argParser(parseChannel))
    .addOption(new Option('--account <account>', 'only this account').argParser(parseAccount))
    .addOption(new Option('--limit <n>', 'at most this many (1-1000, default 100)').argParser(parseLimit))
    .addOption(jsonOption())
    .action(async (options: ListOptions) => {
      const body = await withClient((c) =>
        listPages(c, {
          state: options.state,
          channel: options.channel,
          account: options.account,
          limit: options.limit,
        }),
      );
      if (options.json) return out(json(body));
      const now = Date.now();
      out(table(body.intents, listColumns(now), { empty: 'No intents match.' }));
    });

  program
    .command('show')
    .description(
      "one intent (its fields, payload, approvals, attempts, receipts, and what holds it back) or one of the agent's command approvals",
    )
    .argument('[id]', 'intent or command id (UUID, or its first 6+ hex digits)', parseIdRef)
    .addOption(
      new Option('--key <key>', 'the intent this idempotency key names (the key an agent chose)').argParser(parseKey),
    )
    .addOption(jsonOption())
    .action(async (ref: string | undefined, options: { key?: string; json?: boolean }) => {
      if ((ref === undefined) === (options.key === undefined))
        throw new UsageError('give an id or --key KEY (one of them): `handoff show <id>` or `handoff show --key KEY`');
      const answer = await withClient(async (c) => {
        if (options.key !== undefined) {
          const { intents } = await c.listIntents({ idempotencyKey: options.key, limit: 1 });
          if (!intents[0]) throw new CliError(`no intent has the idempotency key ${JSON.stringify(options.key)}`);
          return { kind: 'intent' as const, body: await c.getIntent(intents[0].id) };
        }
        const id = await resolveId(c, ref!, 'any');
        return withCommandFallback(
          () => c.getIntent(id),
          () => c.getCommandApproval(id),
        );
      });
      if (options.json) return out(json(answer.body));
      if (answer.kind === 'command') return out(renderCommandApproval(answer.body));
      out(renderIntent(answer.body));
    });

  program
    .command('approve')
    .description('approve one or more pending intents (each is reported; exit 1 if any failed)')
    .argument('<id...>', 'intent or command ids (UUIDs, or their first 6+ hex digits)', parseIdRefs)
    .addOption(new Option('--reason <text>', 'why, kept with the approval').argParser(parseReason))
    .addOption(new Option('--json', 'print the approved intents as a JSON array'))
    .action(async (ids: string[], options: { reason?: string; json?: boolean }) => {
      const approved: (Intent | CommandApproval)[] = [];
      let failed = 0;
      await withClient(async (c) => {
        for (const ref of ids) {
          let id = ref;
          try {
            id = await resolveId(c, ref, true);
            const answer = await withCommandFallback(
              () => c.approveIntent(id, options.reason),
              () => c.approveCommand(id, options.reason),
            );
            if (answer.kind === 'command') {
              const command = answer.body;
              approved.push(command);
              if (!options.json)
                out(
                  `approved command ${id}  ${JSON.stringify(command.command)} in ${command.cwd}  -> ${command.state}`,
                );
              continue;
            }
            const intent = answer.body;
            approved.push(intent);
            if (!options.json) {
              const expires = intent.approvalExpiresAt ? `, approval expires ${age(intent.approvalExpiresAt)}` : '';
              out(`approved ${id}  ${target(intent)}  ${intent.idempotencyKey}  -> ${intent.state}${expires}`);
              if (intent.heldBy.length > 0) out(renderHolds(intent.heldBy, '  ', 'it starts once'));
            }
          } catch (error) {
            // an id that did not resolve says so itself; the coordinator's refusals get the id in front
            const described = describeError(error, error instanceof CliError ? undefined : id);
            if (described.fatal) throw error;
            failed += 1;
            err(options.json ? described.json : described.line);
          }
        }
      });
      if (options.json) out(json(approved));
      if (failed > 0) throw new CliError(`${failed} of ${ids.length} could not be approved`);
    });

  program
    .command('reject')
    .description('reject one or more pending intents (they will never run) or command approvals; exit 1 if any failed')
    .argument('<id...>', 'intent or command ids (UUIDs, or their first 6+ hex digits)', parseIdRefs)
    .addOption(
      new Option('--reason <text>', 'why (required, kept with the decision)')
        .argParser(parseReason)
        .makeOptionMandatory(),
    )
    .addOption(new Option('--json', 'print the rejected intents and commands as a JSON array'))
    .action(async (ids: string[], options: { reason: string; json?: boolean }) => {
      const rejected: (Intent | CommandApproval)[] = [];
      let failed = 0;
      await withClient(async (c) => {
        for (const ref of ids) {
          let id = ref;
          try {
            id = await resolveId(c, ref, true);
            const answer = await withCommandFallback(
              () => c.rejectIntent(id, options.reason),
              () => c.rejectCommand(id, options.reason),
            );
            rejected.push(answer.body);
            if (options.json) continue;
            if (answer.kind === 'command') {
              const command = answer.body;
              out(`rejected command ${id}  ${JSON.stringify(command.command)} in ${command.cwd}  -> ${command.state}`);
            } else {
              report('rejected', id, answer.body, false);
            }
          } catch (error) {
            // one id fails as it always did: its own line, nothing more
            if (ids.length === 1) throw error;
            const described = describeError(error, error instanceof CliError ? undefined : id);
            if (described.fatal) throw error;
            failed += 1;
            err(options.json ? described.json : described.line);
          }
        }
      });
      // one id keeps its old answer (the object); several are an array, as approve prints them
      if (options.json) out(json(ids.length === 1 && rejected.length === 1 ? rejected[0] : rejected));
      if (failed > 0) throw new CliError(`${failed} of ${ids.length} could not be rejected`);
    });

  program
    .command('retry')
    .description('requeue a dead or in-doubt intent with a fresh attempt budget')
    .argument('<id>', 'intent id (UUID, or its first 6+ hex digits)', parseIdRef)
    .addOption(new Option('--reason <text>', 'why, kept in the audit log').argParser(parseReason))
    .addOption(jsonOption())
    .action(async (ref: string, options: { reason?: string; json?: boolean }) => {
      const { id, body } = await withClient(async (c) => {
        const id = await resolveId(c, ref, false);
        return { id, body: await c.retryIntent(id, options.reason) };
      });
      report('requeued', id, body, options.json);
    });

  program
    .command('resolve')
    .description('mark an in-doubt intent as done, with the external id you found (writes an operator receipt)')
    .argument('<id>', 'intent id (UUID, or its first 6+ hex digits)', parseIdRef)
    .addOption(
      new Option('--external-id <id>', 'the id of the effect at the provider (required)')
        .argParser(parseText)
        .makeOptionMandatory(),
    )
    .addOption(new Option('--url <url>', 'where the effect can be seen').argParser(parseText))
    .addOption(new Option('--reason <text>', 'why, kept in the audit log').argParser(parseReason))
    .addOption(jsonOption())
    .action(async (ref: string, options: { externalId: string; url?: string; reason?: string; json?: boolean }) => {
      const payload: { externalId: string; url?: string; reason?: string } = { externalId: options.externalId };
      if (options.url) payload.url = options.url;
      if (options.reason) payload.reason = options.reason;
      const { id, body } = await withClient(async (c) => {
        const id = await resolveId(c, ref, false);
        return { id, body: await c.resolveIntent(id, payload) };
      });
      report('resolved', id, body, options.json);
    });
}

/**
 * `approve` and `reject` take intent ids and command-approval ids alike: when no intent has the id
 * (404 not_found), the agent's command approval with that id is decided instead. If neither exists
 * the intent's 404 is what the operator reads.
 */
async function withCommandFallback<I, C>(
  intent: () => Promise<I>,
  command: () => Promise<C>,
): Promise<{ kind: 'intent'; body: I } | { kind: 'command'; body: C }> {
  try {
    return { kind: 'intent', body: await intent() };
  } catch (error) {
    if (!(error instanceof CoordinatorError) || error.status !== 404 || error.code !== 'not_found') throw error;
    try {
      return { kind: 'command', body: await command() };
    } catch (second) {
      // no command approval either (or an older coordinator without the agent): report the intent's 404
      if (second instanceof CoordinatorError && second.status === 404) throw error;
      throw second;
    }
  }
}

/**
 * A whole id as it is; a short one (the start of an id) looked up among the intents and, with
 * `commands`, the command approvals waiting for a person (`true`) or any recent one (`'any'`, for
 * show). Exactly one match, or an error that says what matched.
 */
async function resolveId(c: CoordinatorClient, ref: string, commands: boolean | 'any'): Promise<string> {
  if (isFullId(ref)) return ref;
  const hex = IdPrefix.parse(ref);
  const { intents } = await c.listIntents({ idPrefix: hex, limit: 5 });
  const waiting = commands ? await commandsByPrefix(c, hex, commands === 'any' ? undefined : 'pending') : [];
  const ids = [...intents.map((i) => i.id), ...waiting.map((a) => a.id)].sort();
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0)
    throw new CliError(`no intent${commands ? ' or waiting command' : ''} has an id starting with ${ref}`);
  throw new CliError(`more than one id starts with ${ref} (${ids.join(', ')}); give more of it`);
}

/**
 * Command approvals, following `nextCursor` past the API's byte cap (each command comes whole) up to
 * `limit`; an older coordinator without the agent routes has none.
 */
async function commandApprovals(
  c: CoordinatorClient,
  params: { state?: CommandApprovalState; idPrefix?: string; limit: number },
): Promise<CommandApproval[]> {
  const { limit, ...filter } = params;
  try {
    return (
      await followPages(limit, async (page) => {
        const { approvals, nextCursor } = await c.listCommandApprovals({ ...filter, ...page });
        return { items: approvals, nextCursor };
      })
    ).items;
  } catch (error) {
    if (error instanceof CoordinatorError && error.status === 404) return [];
    throw error;
  }
}

/** Command approvals waiting for a person, oldest first. */
function pendingCommands(c: CoordinatorClient): Promise<CommandApproval[]> {
  return commandApprovals(c, { state: 'pending', limit: 1000 });
}

/** Command approvals whose id starts with `hex` (in `state` when given). */
function commandsByPrefix(c: CoordinatorClient, hex: string, state?: 'pending'): Promise<CommandApproval[]> {
  return commandApprovals(c, { state, idPrefix: hex, limit: 5 });
}

/**
 * Text exactly as it is, made safe for a terminal: line breaks and tabs stay, every other control
 * character, and the invisible ones that reorder or hide text (bidi overrides, zero-width
 * characters, line separators), is shown as `\u{..}`, so what a person approves is what runs.
 */
export function exact(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
}

/** A command approval in full: the whole command (never cut), its working directory, the guard's rule and reason. */
export function renderCommandApproval(a: CommandApproval, now: number = Date.now(), indent = ''): string {
  const decided = a.decidedAt
    ? `${a.state} by ${a.decidedBy ?? '?'} ${age(a.decidedAt, now)}${a.decisionReason ? `: ${exact(a.decisionReason)}` : ''}`
    : a.state;
  const fields: [string, string][] = [
    ['command approval', a.id],
    ['state', decided],
    ['session', a.sessionId],
    ['requested', timestamp(a.requestedAt, now)],
    [
      'expires',
      a.state === 'pending' ? `${timestamp(a.expiresAt, now)} (no answer means deny)` : timestamp(a.expiresAt, now),
    ],
    ['working directory', exact(a.cwd)],
    ['guard rule', exact(a.rule)],
    ['guard reason', exact(a.reason)],
    ['command sha256', a.commandHash],
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  const continued = `\n${indent}${' '.repeat(width + 2)}`;
  let text = fields.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v.replace(/\n/g, continued)}`).join('\n');
  text += `\n${indent}command (${a.command.length} characters, exactly as it will run):\n`;
  text += exact(a.command)
    .split('\n')
    .map((line) => `${indent}  | ${line}`)
    .join('\n');
  return `${text}\n`;
}

function report(verb: string, id: string, intent: Intent, asJson: boolean | undefined): void {
  if (asJson) return out(json(intent));
  out(`${verb} ${id}  ${target(intent)}  ${intent.idempotencyKey}  -> ${intent.state}`);
}

function listColumns(now: number): Column<IntentSummary>[] {
  return [
    { header: 'ID', value: (i) => i.id, max: Infinity },
    { header: 'STATE', value: (i) => i.state },
    { header: 'CHANNEL:ACCOUNT', value: target, max: 32 },
    { header: 'KEY', value: (i) => i.idempotencyKey, max: 28 },
    { header: 'TRIES', value: (i) => `${i.attemptCount}/${i.maxAttempts}`, align: 'right' },
    { header: 'UPDATED', value: (i) => age(i.updatedAt, now) },
    { header: 'REASON / LAST ERROR', value: (i) => i.lastError ?? i.stateReason, max: 48 },
  ];
}

/**
 * What holds an intent back, one line each, then what lifts it: `then` completes "… once the gate
 * opens" (`it starts once` after an approval, `it can start once` for a pending one).
 */
export function renderHolds(holds: readonly Hold[], indent = '', then = 'it starts once', now = Date.now()): string {
  return holds
    .map((h) =>
      h.kind === 'gate'
        ? `${indent}held: gate ${h.scope} is closed${h.reason ? ` (${h.reason})` : ''}${h.since ? ` since ${age(h.since, now)}` : ''}; ${then} it opens (\`handoff gate open ${h.scope}\`).`
        : `${indent}held: breaker ${h.scope} is open on executor ${h.executorId ?? '?'}${h.since ? ` since ${age(h.since, now)}` : ''} (${h.reason ?? 'failures'}); ${then} the provider recovers and the breaker closes.`,
    )
    .join('\n');
}

/** Why an intent is where it is, in words: what it waits for and what would move it. */
function explain(intent: IntentDetail & { heldBy?: Hold[] }, now: number): string | undefined {
  const holds = intent.heldBy ?? [];
  const due = intent.runAfter && Date.parse(intent.runAfter) > now ? `not before ${age(intent.runAfter, now)}` : null;
  switch (intent.state) {
    case 'pending_approval':
      return `waits for a person: \`handoff approve ${intent.id}\` or \`handoff reject ${intent.id} --reason TEXT\`${holds.length > 0 ? '; even approved it is held (below)' : ''}`;
    case 'approved':
    case 'retry_wait':
      if (holds.length > 0) return 'may run, but is held (below)';
      return due ? `may run, ${due}` : 'may run: waits for an executor to take it';
    case 'running':
      return `running on ${intent.leaseOwner ?? '?'}`;
    case 'in_doubt':
      return `the provider may or may not have done it: check there, then \`handoff resolve ${intent.id} --external-id X\` if it happened or \`handoff retry ${intent.id}\` if not`;
    case 'dead':
      return `gave up after ${intent.attemptCount} attempt(s): \`handoff retry ${intent.id}\` runs it again with a fresh budget`;
    default:
      return undefined;
  }
}

export function renderIntent(intent: IntentDetail & { heldBy?: Hold[] }, now: number = Date.now()): string {
  const lease = intent.leaseOwner
    ? `${intent.leaseOwner}, epoch ${intent.leaseEpoch}, expires ${age(intent.leaseExpiresAt, now)}`
    : `none (epoch ${intent.leaseEpoch})`;
  const approval = intent.approvedAt
    ? `by ${intent.approvedBy ?? '?'} ${age(intent.approvedAt, now)}${intent.approvalExpiresAt ? `, expires ${age(intent.approvalExpiresAt, now)}` : ''}`
    : intent.requiresApproval
      ? 'required, not given'
      : 'not required';
  let text = keyValues([
    ['id', intent.id],
    ['state', intent.stateReason ? `${intent.state} (${intent.stateReason})` : intent.state],
    ['why', explain(intent, now)],
    ['channel', target(intent)],
    ['idempotency key', intent.idempotencyKey],
    ['created', `${timestamp(intent.createdAt, now)}${intent.createdBy ? ` by ${intent.createdBy}` : ''}`],
    ['updated', timestamp(intent.updatedAt, now)],
    ['not before', intent.notBefore ? timestamp(intent.notBefore, now) : undefined],
    ['run after', intent.runAfter ? timestamp(intent.runAfter, now) : undefined],
    ['approval', approval],
    ['attempts', `${intent.attemptCount} of ${intent.maxAttempts}`],
    ['lease', lease],
    ['last error', intent.lastError ?? undefined],
  ]);
  const holds = intent.heldBy ?? [];
  if (holds.length > 0)
    text +=
      renderHolds(
        holds,
        '',
        intent.state === 'pending_approval' ? 'once approved, it can start once' : 'it starts once',
        now,
      ) + '\n';

  text += `\n${heading('payload')}`;
  text += intent.payloadHash ? `sha256 ${intent.payloadHash}\n` : '';
  text += json(intent.payload ?? {});

  text += `\n${heading('approvals')}`;
  text += table(intent.approvals ?? [], [
    { header: 'WHEN', value: (a) => age(a.createdAt, now) },
    { header: 'DECISION', value: (a) => a.decision },
    { header: 'BY', value: (a) => a.actor, max: 24 },
    { header: 'EXPIRES', value: (a) => age(a.expiresAt, now) },
    { header: 'REASON', value: (a) => a.reason, max: 60 },
  ]);

  text += `\n${heading('attempts')}`;
  text += table(intent.attempts ?? [], [
    { header: '#', value: (a) => a.attemptNo, align: 'right' },
    { header: 'EPOCH', value: (a) => a.leaseEpoch, align: 'right' },
    { header: 'EXECUTOR', value: (a) => a.executorId, max: 24 },
    { header: 'STARTED', value: (a) => age(a.startedAt, now) },
    { header: 'FINISHED', value: (a) => (a.finishedAt ? age(a.finishedAt, now) : 'not yet') },
    { header: 'OUTCOME', value: (a) => a.outcome },
    {
      header: 'ERROR',
      value: (a) => (a.errorClass ? `${a.errorClass}: ${a.errorMessage ?? ''}` : a.errorMessage),
      max: 60,
    },
  ]);

  text += `\n${heading('receipts')}`;
  text += table(intent.receipts ?? [], [
    { header: 'WHEN', value: (r) => age(r.createdAt, now) },
    { header: 'KIND', value: (r) => r.kind },
    { header: 'SOURCE', value: (r) => r.source },
    { header: '#', value: (r) => r.attemptNo, align: 'right' },
    { header: 'EXECUTOR', value: (r) => r.executorId, max: 24 },
    { header: 'EXTERNAL ID', value: (r) => r.externalId, max: 32 },
    {
      header: 'URL / ERROR',
      value: (r) => (r.kind === 'success' ? r.url : `${r.errorClass ?? 'error'}: ${r.errorMessage ?? ''}`),
      max: 80,
    },
  ]);
  return text;
}

/**
 * GET /v1/intents up to `limit` rows (the API's default 100 when not given); see followPages.
 */
async function listPages(c: CoordinatorClient, filter: IntentFilter & { limit?: number }): Promise<IntentList> {
  const { limit = 100, ...rest } = filter;
  const { items, nextCursor } = await followPages(limit, async (page) => {
    const answer = await c.listIntents({ ...rest, ...page });
    return { items: answer.intents, nextCursor: answer.nextCursor };
  });
  return { intents: items, nextCursor };
}

/**
 * A list's rows up to `limit`: a page the API's byte cap stopped early is followed by the next one
 * (`nextCursor`), so `--limit` means what it says.
 */
async function followPages<T>(
  limit: number,
  fetchPage: (
    page: Required<Pick<PageRequest, 'limit'>> & PageRequest,
  ) => Promise<{ items: T[]; nextCursor: string | null }>,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage({ limit: limit - items.length, cursor });
    items.push(...page.items);
    const next = page.nextCursor;
    if (next === null || items.length >= limit) return { items, nextCursor: next };
    cursor = next;
  }
}
