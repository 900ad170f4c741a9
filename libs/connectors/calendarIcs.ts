/**
 * Minimal, careful iCalendar (RFC 5545) writing and reading for the calendar connector: one VEVENT,
 * UTC times, CRLF line ends, folding at 75 octets without splitting a UTF-8 sequence, TEXT escaping.
 */

export interface IcsEvent {
  uid: string;
  sequence: number;
  summary: string;
  start: Date;
  end: Date;
  description?: string;
  location?: string;
  organizer?: string;
  attendees?: string[];
  /** X-HANDOFF-INTENT: which intent wrote this version (reconcile of update looks for it). */
  marker: string;
  /** IANA zone the times were given in; kept as X-HANDOFF-TIMEZONE for readers, times stay UTC. */
  timezone?: string;
  dtstamp?: Date;
}

/** TEXT value escaping: backslash, semicolon, comma, newline. */
export function escapeText(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n');
}

export function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_m, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

/** Folds one content line at 75 octets; continuation lines start with a space. */
export function foldLine(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= 75) return line;
  const parts: string[] = [];
  let start = 0;
  let limit = 75;
  while (start < bytes.length) {
    let end = Math.min(start + limit, bytes.length);
    // never cut inside a UTF-8 sequence: back up while the byte at `end` is a continuation byte
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    parts.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
    limit = 74; // the leading space counts
  }
  return parts.join('\r\n ');
}

export function utcStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

export function buildEvent(e: IcsEvent): string {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//handoff//calendar connector//EN',
    'CALSCALE:GREGORIAN',
    'BEGIN:VEVENT',
    `UID:${e.uid}`,
    `DTSTAMP:${utcStamp(e.dtstamp ?? new Date())}`,
    `DTSTART:${utcStamp(e.start)}`,
    `DTEND:${utcStamp(e.end)}`,
    `SEQUENCE:${e.sequence}`,
    `SUMMARY:${escapeText(e.summary)}`,
  ];
  if (e.description !== undefined) lines.push(`DESCRIPTION:${escapeText(e.description)}`);
  if (e.location !== undefined) lines.push(`LOCATION:${escapeText(e.location)}`);
  if (e.organizer) lines.push(`ORGANIZER:mailto:${e.organizer}`);
  for (const a of e.attendees ?? [])
    lines.push(`ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${a}`);
  if (e.timezone) lines.push(`X-HANDOFF-TIMEZONE:${escapeText(e.timezone)}`);
  lines.push(`X-HANDOFF-INTENT:${e.marker}`, 'END:VEVENT', 'END:VCALENDAR');
  return lines.map(foldLine).join('\r\n') + '\r\n';
}

/** Unfolded content lines of a calendar object. */
export function unfold(text: string): string[] {
  return text
    .replace(/\r\n[ \t]|\n[ \t]/g, '')
    .split(/\r\n|\n/)
    .filter((l) => l !== '');
}

/** The first VEVENT's value of property `name` (parameters ignored), unescaped; undefined if absent. */
export function eventProperty(text: string, name: string): string | undefined {
  let inEvent = false;
  const upper = name.toUpperCase();
  for (const line of unfold(text)) {
    if (line === 'BEGIN:VEVENT') inEvent = true;
    else if (line === 'END:VEVENT') return undefined;
    else if (inEvent) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const key = line.slice(0, colon).split(';')[0]!.toUpperCase();
      if (key === upper) return unescapeText(line.slice(colon + 1));
    }
  }
  return undefined;
}

/** An ISO date-time with an offset or Z, or a local one interpreted in `timeZone`. */
export function toInstant(value: string, timeZone: string | undefined): Date {
  if (/(Z|[+-]\d{2}:?\d{2})$/i.test(value)) return new Date(value);
  if (!timeZone) throw new Error('needs an offset (e.g. Z or +02:00) or a timezone');
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value);
  if (!m) throw new Error('is not an ISO date-time');
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0));
  // offset of the zone at a given instant, then correct once for a DST change between guesses
  const offsetAt = (t: number): number => {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(t));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - t;
  };
  let t = wall - offsetAt(wall);
  t = wall - offsetAt(t);
  return new Date(t);
}

export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
