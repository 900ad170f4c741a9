import twitterText from 'twitter-text';
import type { ApprovalPreview } from '@handoff/contracts';

/**
 * What a pending intent will do, per channel, so that the person approving it reads the effect
 * rather than JSON: the post and X's weighted length, the mail's headers and body, the event's
 * instants (the browser shows them in the operator's zone), the request, the deploy. A payload that
 * does not have the channel's shape (it was validated at create; this is only a view) falls back to
 * `other`, and the console shows the raw payload, as it always does beside the preview.
 */

/** X's limit on a post's weighted length (libs/connectors/x.ts checks the same at create). */
const X_MAX_WEIGHTED_LENGTH = 280;

type Payload = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const list = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** The UTC offset (ms) of `timeZone` at the instant `at`. */
function zoneOffsetMs(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(at));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(at / 1000) * 1000;
}

/**
 * The instant a calendar payload's date-time names: with an offset (or Z) as written; without one,
 * the wall time in the payload's `timezone` (UTC when it has none), as the connector reads it.
 */
export function calendarInstant(value: unknown, timeZone: string | null): string | null {
  if (typeof value !== 'string') return null;
  if (/(Z|[+-]\d{2}:?\d{2})$/i.test(value)) {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : new Date(t).toISOString();
  }
  const wall = Date.parse(`${value}Z`);
  if (Number.isNaN(wall)) return null;
  if (!timeZone) return new Date(wall).toISOString();
  try {
    // two rounds settle the offset across a DST change
    let t = wall - zoneOffsetMs(wall, timeZone);
    t = wall - zoneOffsetMs(t, timeZone);
    return new Date(t).toISOString();
  } catch {
    return null;
  }
}

function bodyText(body: unknown): string | null {
  if (body === undefined) return null;
  return typeof body === 'string' ? body : JSON.stringify(body, null, 2);
}

/** The preview of a payload of `channel`. An email's From is the executor's account setting: unknown here (null). */
export function previewOf(channel: string, payload: Payload): ApprovalPreview {
  switch (channel) {
    case 'x': {
      const text = str(payload['text']);
      if (text === null) break;
      return {
        kind: 'x',
        text,
        weightedLength: twitterText.parseTweet(text).weightedLength,
        maxLength: X_MAX_WEIGHTED_LENGTH,
      };
    }
    case 'email': {
      const text = str(payload['text']);
      const html = str(payload['html']);
      return {
        kind: 'email',
        from: null,
        to: list(payload['to']),
        cc: list(payload['cc']),
        bcc: list(payload['bcc']),
        subject: str(payload['subject']) ?? '',
        body: text ?? html ?? '',
        bodyIsHtml: text === null && html !== null,
      };
    }
    case 'calendar': {
      const timezone = str(payload['timezone']);
      return {
        kind: 'calendar',
        op: str(payload['op']) ?? 'create',
        summary: str(payload['summary']),
        start: calendarInstant(payload['start'], timezone),
        end: calendarInstant(payload['end'], timezone),
        timezone,
        location: str(payload['location']),
        attendees: list(payload['attendees']),
      };
    }
    case 'webhook': {
      const url = str(payload['url']);
      if (url === null) break;
      return { kind: 'webhook', method: str(payload['method']) ?? 'POST', url, body: bodyText(payload['body']) };
    }
    case 'deploy': {
      const kind = str(payload['kind']);
      const target =
        kind === 'github'
          ? `github ${str(payload['owner']) ?? '?'}/${str(payload['repo']) ?? '?'}`
          : `webhook ${str(payload['url']) ?? '?'}`;
      return {
        kind: 'deploy',
        target,
        ref: str(payload['ref']),
        environment: str(payload['environment']),
        description: str(payload['description']),
      };
    }
    default:
      break;
  }
  return { kind: 'other' };
}
