import type { NotifyEvent, NotifyItem, NotifyPayload, NotifyTarget } from '@handoff/contracts';

/** One recorded event as a digest reads it (a notify_events row). */
export interface NoticedEvent {
  event: NotifyEvent;
  subject: string;
  /** The intent it is about: its console page is the item's link. */
  intentId: string | null;
  at: Date;
}

/**
 * Items a payload carries; `total` counts the rest, and the connector renders as many as its
 * provider shows, then "and K more".
 */
export const MAX_ITEMS = 20;

const TITLE_MAX = 200;

/** Events that cannot wait for someone to look (an effect stuck, a machine gone): high priority. */
const URGENT: ReadonlySet<NotifyEvent> = new Set(['dead', 'in_doubt', 'executor_stale', 'backup_failed']);

/** How a count of each event reads in a title: [one, many]. */
const COUNTED: Record<NotifyEvent, [string, string]> = {
  approval_needed: ['intent waits for approval', 'intents wait for approval'],
  dead: ['intent dead', 'intents dead'],
  in_doubt: ['intent in doubt', 'intents in doubt'],
  executor_stale: ['executor silent', 'executors silent'],
  breaker_opened: ['breaker opened', 'breakers opened'],
  gate_changed: ['gate changed', 'gate changes'],
  model_node_quarantined: ['model node quarantined', 'model nodes quarantined'],
  backup_failed: ['backup failed', 'backups failed'],
};

/**
 * The console's pages. `consoleUrl` is the console's own address (`https://host/console/`); a link
 * is a fragment route of it, as the console's page routes (`#/intent/<id>`, `#/` for Needs you).
 */
export function consolePages(consoleUrl: string): { needsYou: string; intent: (id: string) => string } {
  const base = new URL(consoleUrl);
  base.hash = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const at = (fragment: string): string => `${base.toString()}#/${fragment}`;
  return { needsYou: at(''), intent: (id) => at(`intent/${id}`) };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The message for one target: the events it asked for, in the order they happened, folded into one
 * NotifyPayload (null when it asked for none of them). One event reads as itself and links to its
 * page; several read as counts ("200 intents wait for approval") over their span of time, carry the
 * first MAX_ITEMS as items (the connector lists them, then "and K more" from `total`), and link to
 * Needs you.
 */
export function digestFor(
  target: NotifyTarget,
  events: readonly NoticedEvent[],
  consoleUrl: string,
): NotifyPayload | null {
  const wanted = events.filter((e) => target.events.includes(e.event));
  if (wanted.length === 0) return null;
  const pages = consolePages(consoleUrl);
  const items: NotifyItem[] = wanted.slice(0, MAX_ITEMS).map((e) => ({
    event: e.event,
    subject: e.subject,
    url: e.intentId ? pages.intent(e.intentId) : pages.needsYou,
    at: e.at.toISOString(),
  }));

  const single = wanted.length === 1 ? wanted[0]! : null;
  const counts = countsOf(wanted);
  return {
    kind: target.kind,
    title: clip(`handoff: ${single ? COUNTED[single.event][0] : counts}`, TITLE_MAX),
    message: single ? single.subject : `${counts}, ${spanOf(wanted)}.`,
    url: single ? items[0]!.url : pages.needsYou,
    priority: wanted.some((e) => URGENT.has(e.event)) ? 'high' : 'default',
    items,
    total: wanted.length,
  };
}

/** "between 19:12:03 and 19:12:41 UTC" (events are in time order). */
function spanOf(events: readonly NoticedEvent[]): string {
  const time = (d: Date): string => d.toISOString().slice(11, 19);
  const first = events[0]!.at;
  const last = events[events.length - 1]!.at;
  const day =
    first.toISOString().slice(0, 10) === last.toISOString().slice(0, 10)
      ? ''
      : ` on ${last.toISOString().slice(0, 10)}`;
  return `between ${time(first)} and ${time(last)}${day} UTC`;
}

/** "200 intents wait for approval, 1 intent dead": each event's count, in the contract's order. */
function countsOf(events: readonly NoticedEvent[]): string {
  const counts = new Map<NotifyEvent, number>();
  for (const e of events) counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
  return (Object.keys(COUNTED) as NotifyEvent[])
    .filter((event) => counts.has(event))
    .map((event) => {
      const n = counts.get(event)!;
      return `${n} ${COUNTED[event][n === 1 ? 0 : 1]}`;
    })
    .join(', ');
}
