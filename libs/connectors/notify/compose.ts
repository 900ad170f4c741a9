import type { NotifyPayload } from '@handoff/contracts';

/**
 * The parts of a notification every provider shows: the message, up to MAX_ITEMS items each with
 * its link, "and K more" for the rest, and the main link. Each provider renders them in its own
 * markup; `fitDigest` keeps the result within the provider's size limit by showing fewer items
 * (the count of the rest grows) and, last, clipping the message.
 */

/** Items shown at most: a phone screen's worth; the console lists the rest. */
export const MAX_ITEMS = 10;

export interface DigestLayout {
  /** The title and message as the provider shows them (already escaped for its markup). */
  head: (message: string) => string;
  /** One item line (already escaped). */
  item: (item: NotifyPayload['items'][number]) => string;
  /** "and K more" in the provider's markup. */
  more: (k: number) => string;
  /** The main link, or '' when the payload has none. */
  tail: string;
  /** The provider's limit, in the unit `measure` counts. */
  limit: number;
  measure?: (text: string) => number;
}

const CLIP = '…';

/** The rendered text, within `layout.limit`. */
export function fitDigest(payload: NotifyPayload, layout: DigestLayout): string {
  const measure = layout.measure ?? ((t: string) => t.length);
  const render = (message: string, n: number): string => {
    const lines = payload.items.slice(0, n).map(layout.item);
    const rest = payload.total - n;
    if (rest > 0) lines.push(layout.more(rest));
    return [layout.head(message), lines.join('\n'), layout.tail].filter((part) => part !== '').join('\n\n');
  };
  for (let n = Math.min(payload.items.length, MAX_ITEMS); n >= 0; n--) {
    const text = render(payload.message, n);
    if (measure(text) <= layout.limit) return text;
  }
  // Even without items it is too long: clip the message (by code points, never half a pair).
  const chars = [...payload.message];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(render(chars.slice(0, mid).join('') + CLIP, 0)) <= layout.limit) lo = mid;
    else hi = mid - 1;
  }
  return render(chars.slice(0, lo).join('') + CLIP, 0);
}

/** "and 3 more" (the digest folded more events than it lists). */
export function moreText(k: number): string {
  return `and ${k} more`;
}

/** A digest as plain text (ntfy, email): items as "- subject" with the link on the next line. */
export function plainDigest(
  payload: NotifyPayload,
  opts: { limit: number; withTitle: boolean; measure?: (t: string) => number },
): string {
  return fitDigest(payload, {
    head: (message) => (opts.withTitle ? `${payload.title}\n\n${message}` : message),
    item: (i) => (i.url ? `- ${i.subject}\n  ${i.url}` : `- ${i.subject}`),
    more: moreText,
    tail: payload.url ? `Open: ${payload.url}` : '',
    limit: opts.limit,
    measure: opts.measure,
  });
}

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');
