import type { ApprovalPreview } from '@handoff/contracts';
import { toInstant, X_MAX_WEIGHTED_LENGTH, xWeightedLength } from '@handoff/connectors';

/**
 * What a pending intent will do, per channel, so that the person approving it reads the effect
 * rather than JSON: the post and X's weighted length, the mail's headers and body, the event's
 * instants (the browser shows them in the operator's zone), the request, the deploy. A payload that
 * does not have the channel's shape (it was validated at create; this is only a view) falls back to
 * `other`, and the console shows the raw payload, as it always does beside the preview.
 */

type Payload = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const list = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * The instant a calendar payload's date-time names: with an offset (or Z) as written; without one,
 * the wall time in the payload's `timezone` (UTC when it has none), as the connector reads it.
 */
export function calendarInstant(value: unknown, timeZone: string | null): string | null {
  if (typeof value !== 'string') return null;
  try {
    return toInstant(value, timeZone ?? 'UTC').toISOString();
  } catch {
    return null; // not a date-time, or an unknown zone: the preview says so rather than guess
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
        weightedLength: xWeightedLength(text),
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
