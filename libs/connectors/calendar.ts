import { createHash } from 'node:crypto';
import { request } from 'undici';
import { createEffectAgent } from './effectAgent.ts';
import type { Dispatcher } from 'undici';
import { createDAVClient } from 'tsdav';
import { z } from 'zod';
import { describeZodIssues, formatIssues } from '@handoff/contracts';
import { redactorFor } from './redact.ts';
import { assertCredentialHost } from './credentialHosts.ts';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import type { ConnectorError } from './errors.ts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from './errors.ts';
import { parseRetryAfter } from './webhook.ts';
import { BEFORE_SEND_CODES, addressRefused, errorCode } from './transport.ts';
import { buildEvent, eventProperty, toInstant, validTimeZone } from './calendarIcs.ts';

/**
 * calendar: CalDAV events (create, update, cancel). Discovery of the calendar (when no
 * calendarUrl is configured) goes through tsdav; the three writes and the reads that reconcile
 * them are plain HTTP requests (undici), because their exact status codes and the moment a
 * network failure happened are what the error classes and reconcile rest on.
 * See docs/connectors.md.
 */

const DateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i, {
  message: 'must be an ISO date-time, e.g. 2026-12-01T09:00:00Z',
});
const Tz = z.string().refine(validTimeZone, { message: 'must be an IANA time zone, e.g. Europe/Berlin' });
const Email = z.email({ message: 'must be an email address' });
const Text = z.string().max(10_000);

const EventFields = {
  summary: z.string().min(1).max(1000),
  start: DateTime,
  end: DateTime,
  timezone: Tz.optional(),
  description: Text.optional(),
  location: z.string().max(1000).optional(),
  attendees: z.array(Email).max(200).optional(),
};
// Only characters that are safe in a URL path segment and in a UID line.
const Uid = z.string().regex(/^[A-Za-z0-9@._-]{1,200}$/, { message: 'must be 1-200 of A-Z a-z 0-9 @ . _ -' });

export const CalendarPayload = z
  .discriminatedUnion('op', [
    z.strictObject({ op: z.literal('create'), ...EventFields }),
    // An update replaces the event's fields (summary, start and end are required); see the docs.
    z.strictObject({ op: z.literal('update'), uid: Uid, etag: z.string().min(1).optional(), ...EventFields }),
    z.strictObject({ op: z.literal('cancel'), uid: Uid }),
  ])
  .superRefine((p, ctx) => {
    if (p.op === 'cancel') return;
    let start: Date;
    let end: Date;
    try {
      start = toInstant(p.start, p.timezone);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['start'], message: (err as Error).message });
      return;
    }
    try {
      end = toInstant(p.end, p.timezone);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: (err as Error).message });
      return;
    }
    if (Number.isNaN(start.getTime()))
      ctx.addIssue({ code: 'custom', path: ['start'], message: 'is not a valid date-time' });
    else if (Number.isNaN(end.getTime()))
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'is not a valid date-time' });
    else if (end <= start) ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start' });
  });
export type CalendarPayload = z.infer<typeof CalendarPayload>;

const CalendarCredentials = z.object({
  serverUrl: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1),
  password: z.string(),
  calendarUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Written as ORGANIZER when attendees are given. */
  organizer: Email.optional(),
});
export type CalendarCredentials = z.infer<typeof CalendarCredentials>;

export interface CalendarConnectorOptions {
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  connectTimeoutMs?: number;
}

export type CalendarConnector = Connector<CalendarPayload> & { close(): Promise<void> };

/** `handoff-<sha256(key)[0..32]>`: the event UID of a create, a pure function of the idempotency key. */
export function calendarEventUid(idempotencyKey: string): string {
  return `handoff-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

/**
 * Written into every version this connector PUTs, as X-HANDOFF-INTENT. Made from the intent's id, not
 * its key: the same key in another handoff database (or for another account on this calendar) gives
 * the same UID, and only a marker that differs between their intents tells their event from ours.
 */
export function intentMarker(intentId: string): string {
  return createHash('sha256').update(`intent:${intentId}`).digest('hex').slice(0, 32);
}

/**
 * Whose is the event found at a create's UID? The UID is a hash of the idempotency key, so another
 * writer using the same key (another handoff database on this calendar) lands on the same one: only
 * the X-HANDOFF-INTENT marker tells an earlier attempt of this intent from theirs. `unmarked`: the
 * UID is ours but the marker is gone (a client that drops X- properties edited it), so whether this
 * intent wrote it cannot be known.
 */
function createdEventOwner(body: string, uid: string, marker: string): 'ours' | 'foreign' | 'unmarked' {
  if (eventProperty(body, 'UID') !== uid) return 'foreign'; // we write our UID at our URL, nothing else
  const found = eventProperty(body, 'X-HANDOFF-INTENT');
  if (found === undefined) return 'unmarked';
  return found === marker ? 'ours' : 'foreign';
}

function parseCredentials(credentials: Record<string, unknown> | undefined): CalendarCredentials {
  if (credentials === undefined) throw new PermanentError('calendar: no credentials for this account on this executor');
  const parsed = CalendarCredentials.safeParse(credentials);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`).join('; ');
    throw new PermanentError(`calendar credentials for this account are malformed: ${fields}`);
  }
  return parsed.data;
}

interface Http {
  status: number;
  etag: string | undefined;
  body: string;
  retryAfter: string | string[] | undefined;
}

class CalDav {
  readonly calendarUrl: string;
  private readonly auth: string;
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal;
  private readonly redactor: (text: string) => string;
  private readonly account: {
    channel: string;
    account: string;
    credentials: Record<string, unknown> | undefined;
    redact?: (text: string) => string;
  };

  constructor(
    calendarUrl: string,
    creds: CalendarCredentials,
    dispatcher: Dispatcher,
    timeoutMs: number,
    signal: AbortSignal,
    account: {
      channel: string;
      account: string;
      credentials: Record<string, unknown> | undefined;
      redact?: (text: string) => string;
    },
  ) {
    this.calendarUrl = calendarUrl.endsWith('/') ? calendarUrl : `${calendarUrl}/`;
    this.auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    this.dispatcher = dispatcher;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.account = account;
    this.redactor = redactorFor(account, [this.auth.slice(6)]);
  }

  objectUrl(uid: string): string {
    return new URL(`${encodeURIComponent(uid)}.ics`, this.calendarUrl).toString();
  }

  redact(text: string): string {
    return this.redactor(text);
  }

  /**
   * One request. Network failures: before the request left → RetryableError; after it may have
   * left → `afterSend` (the caller decides: unknown for writes that are not safe to repeat).
   */
  async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    afterSend: 'retryable' | 'unknown',
  ): Promise<Http> {
    const target = `${method} ${new URL(url).host}`;
    // A discovered calendar may live on another host: the password goes only to the account's hosts.
    assertCredentialHost(this.account, this.account.credentials, new URL(url), `caldav ${target}`);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher: this.dispatcher,
        method: method as Dispatcher.HttpMethod,
        headers: { authorization: this.auth, ...headers },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: this.signal,
      });
    } catch (err) {
      const code = errorCode(err);
      const detail = this.redact(err instanceof Error ? err.message : String(err)).slice(0, 200);
      if (addressRefused(err)) throw new PermanentError(`caldav ${target} refused: ${detail}`);
      if (code && BEFORE_SEND_CODES.has(code))
        throw new RetryableError(`caldav ${target} could not connect (${code}): ${detail}`, { cause: err });
      if (code && (code.startsWith('ERR_TLS_') || code.includes('CERT')))
        throw new RetryableError(`caldav ${target} TLS failure (${code})`, { cause: err });
      if (afterSend === 'retryable')
        throw new RetryableError(`caldav ${target} failed after sending (${code ?? 'no code'}): ${detail}`, {
          cause: err,
        });
      throw new UnknownOutcomeError(
        `caldav ${target} failed after sending, outcome unknown (${code ?? 'no code'}): ${detail}`,
        { cause: err },
      );
    }
    let text = '';
    try {
      text = await res.body.text();
    } catch {
      // a body we cannot read changes nothing about the status the server gave
    }
    const etag = res.headers.etag;
    return {
      status: res.statusCode,
      etag: Array.isArray(etag) ? etag[0] : etag,
      body: text,
      retryAfter: res.headers['retry-after'],
    };
  }

  /** Read-only fetch of an object: network trouble is retryable, never "unknown". */
  get(uid: string): Promise<Http> {
    return this.send('GET', this.objectUrl(uid), { accept: 'text/calendar' }, undefined, 'retryable');
  }

  fail(http: Http, what: string): ConnectorError {
    const snippet = this.redact(
      http.body
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    ).slice(0, 200);
    const msg = `caldav ${what} answered ${http.status}${snippet ? `: ${snippet}` : ''}`;
    if (http.status === 401 || http.status === 403)
      return new PermanentError(`${msg} (check the account's credentials and rights)`);
    if (http.status === 429 || (http.status === 503 && http.retryAfter !== undefined)) {
      return new RateLimitedError(msg, parseRetryAfter(http.retryAfter) ?? 30_000);
    }
    if (http.status === 408 || http.status >= 500) return new RetryableError(msg);
    return new PermanentError(msg);
  }
}

export function createCalendarConnector(options: CalendarConnectorOptions = {}): CalendarConnector {
  const ownAgent = options.dispatcher
    ? undefined
    : createEffectAgent({ connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
  const dispatcher: Dispatcher = options.dispatcher ?? (ownAgent as Dispatcher);
  const timeoutMs = options.timeoutMs ?? 20_000;
  /** Discovered calendar URLs, per server and user (never keyed or logged by password). */
  const discovered = new Map<string, string>();

  async function client(intent: ConnectorIntent<CalendarPayload>, ctx: ConnectorContext): Promise<CalDav> {
    const creds = parseCredentials(ctx.credentials);
    let url = creds.calendarUrl;
    if (!url) {
      const cacheKey = `${creds.serverUrl}\u0000${creds.username}`;
      url = discovered.get(cacheKey);
      if (!url) {
        url = await discover(creds, ctx.redact);
        discovered.set(cacheKey, url);
      }
    }
    return new CalDav(url, creds, dispatcher, timeoutMs, ctx.signal, {
      channel: intent.channel,
      account: intent.account,
      credentials: ctx.credentials,
      redact: ctx.redact,
    });
  }

  async function execute(intent: ConnectorIntent<CalendarPayload>, ctx: ConnectorContext): Promise<ExecuteResult> {
    const parsed = CalendarPayload.safeParse(intent.payload);
    if (!parsed.success)
      throw new PermanentError(`invalid calendar payload: ${formatIssues(describeZodIssues(parsed.error, 'payload'))}`);
    const p = parsed.data;
    const dav = await client(intent, ctx);
    const creds = parseCredentials(ctx.credentials);
    const marker = intentMarker(intent.id);

    if (p.op === 'create') {
      const uid = calendarEventUid(intent.idempotencyKey);
      const url = dav.objectUrl(uid);
      const ics = buildEvent({ uid, sequence: 0, marker, ...eventFields(p, creds) });
      // If-None-Match: * makes the server refuse a second create of the same UID: a repeat after a
      // lost answer is therefore safe, and a network failure after sending is retryable.
      const res = await dav.send(
        'PUT',
        url,
        { 'content-type': 'text/calendar; charset=utf-8', 'if-none-match': '*' },
        ics,
        'retryable',
      );
      if (res.status === 201 || res.status === 204 || res.status === 200) return { externalId: uid, url };
      if (res.status === 412) {
        const existing = await dav.get(uid);
        if (existing.status !== 200)
          throw new RetryableError(`caldav PUT answered 412 but the event cannot be read back (${existing.status})`);
        const owner = createdEventOwner(existing.body, uid, marker);
        if (owner === 'ours') {
          ctx.log.info({ intentId: intent.id, uid }, 'calendar event already exists (an earlier attempt created it)');
          return { externalId: uid, url };
        }
        if (owner === 'foreign') {
          throw new PermanentError(
            `caldav: event ${uid} already exists but was not written by this intent (it carries another intent's X-HANDOFF-INTENT marker): ` +
              'another writer, such as another handoff database on this calendar, used the same idempotency key; the event is not ours and is left as it is',
          );
        }
        throw new UnknownOutcomeError(
          `caldav: event ${uid} already exists without an X-HANDOFF-INTENT marker (perhaps edited by a client that drops X- properties): ` +
            'whether this intent created it cannot be told; resolve by hand',
        );
      }
      if (res.status === 404 || res.status === 409)
        throw new PermanentError(`caldav PUT answered ${res.status}: the calendar collection does not exist`);
      throw dav.fail(res, 'PUT (create)');
    }

    if (p.op === 'update') {
      const url = dav.objectUrl(p.uid);
      const current = await dav.get(p.uid);
      if (current.status === 404) throw new PermanentError(`caldav: event ${p.uid} does not exist`);
      if (current.status !== 200) throw dav.fail(current, 'GET (before update)');
      if (eventProperty(current.body, 'X-HANDOFF-INTENT') === marker) {
        // this intent's version is already there (an earlier attempt's answer was lost)
        return { externalId: p.uid, url };
      }
      const etag = p.etag ?? current.etag;
      if (!etag)
        throw new PermanentError('caldav: the server gave no ETag for the event, so an update cannot be conditional');
      const sequence = Number(eventProperty(current.body, 'SEQUENCE') ?? '0');
      const ics = buildEvent({
        uid: p.uid,
        sequence: (Number.isFinite(sequence) ? sequence : 0) + 1,
        marker,
        ...eventFields(p, creds),
      });
      const res = await dav.send(
        'PUT',
        url,
        { 'content-type': 'text/calendar; charset=utf-8', 'if-match': etag },
        ics,
        'unknown',
      );
      if (res.status === 200 || res.status === 201 || res.status === 204) return { externalId: p.uid, url };
      if (res.status === 412) {
        throw new PermanentError(
          `caldav PUT answered 412: event ${p.uid} changed since ETag ${etag} (someone else edited it); not overwriting`,
        );
      }
      if (res.status === 404) throw new PermanentError(`caldav: event ${p.uid} disappeared before the update`);
      throw dav.fail(res, 'PUT (update)');
    }

    // cancel = DELETE with If-Match on the current ETag. Already absent counts as cancelled.
    const url = dav.objectUrl(p.uid);
    const current = await dav.get(p.uid);
    if (current.status === 404 || current.status === 410) return { externalId: p.uid, url };
    if (current.status !== 200) throw dav.fail(current, 'GET (before cancel)');
    const headers: Record<string, string> = current.etag ? { 'if-match': current.etag } : {};
    // A DELETE that is repeated finds nothing and counts as done: safe to retry after sending.
    const res = await dav.send('DELETE', url, headers, undefined, 'retryable');
    if (res.status === 200 || res.status === 204 || res.status === 404 || res.status === 410)
      return { externalId: p.uid, url };
    if (res.status === 412)
      throw new RetryableError(
        `caldav DELETE answered 412: event ${p.uid} changed since it was read; will read it again`,
      );
    throw dav.fail(res, 'DELETE (cancel)');
  }

  async function reconcile(intent: ConnectorIntent<CalendarPayload>, ctx: ConnectorContext): Promise<ReconcileResult> {
    const parsed = CalendarPayload.safeParse(intent.payload);
    if (!parsed.success) return { status: 'unknown', reason: 'payload no longer valid' };
    const p = parsed.data;
    let dav: CalDav;
    try {
      dav = await client(intent, ctx);
    } catch (err) {
      return { status: 'unknown', reason: `calendar unreachable: ${err instanceof Error ? err.message : String(err)}` };
    }
    const uid = p.op === 'create' ? calendarEventUid(intent.idempotencyKey) : p.uid;
    const url = dav.objectUrl(uid);
    let res: Http;
    try {
      res = await dav.get(uid);
    } catch (err) {
      return { status: 'unknown', reason: `calendar unreachable: ${err instanceof Error ? err.message : String(err)}` };
    }
    const absent = res.status === 404 || res.status === 410;
    if (!absent && res.status !== 200) return { status: 'unknown', reason: `caldav GET answered ${res.status}` };
    if (p.op === 'create') {
      if (absent) return { status: 'not_done' };
      const owner = createdEventOwner(res.body, uid, intentMarker(intent.id));
      if (owner === 'ours') return { status: 'done', externalId: uid, url };
      // Another writer's event: ours did not land. Executing again meets it (412) and ends permanent.
      if (owner === 'foreign') return { status: 'not_done' };
      return {
        status: 'unknown',
        reason: `event ${uid} exists without an X-HANDOFF-INTENT marker: whether this intent created it cannot be told`,
      };
    }
    if (p.op === 'update') {
      if (!absent && eventProperty(res.body, 'X-HANDOFF-INTENT') === intentMarker(intent.id)) {
        return { status: 'done', externalId: uid, url };
      }
      // absent, or still another version: the update did not land (a repeat re-checks the ETag)
      return { status: 'not_done' };
    }
    return absent ? { status: 'done', externalId: uid, url } : { status: 'not_done' };
  }

  return {
    name: 'calendar',
    externalEffect: true,
    needsCredentials: true,
    payloadSchema: CalendarPayload,
    execute,
    reconcile,
    async close() {
      await ownAgent?.close();
    },
  };
}

export const calendarConnector: CalendarConnector = createCalendarConnector();

function eventFields(
  p: Extract<CalendarPayload, { op: 'create' | 'update' }>,
  creds: CalendarCredentials,
): {
  summary: string;
  start: Date;
  end: Date;
  description?: string;
  location?: string;
  attendees?: string[];
  organizer?: string;
  timezone?: string;
} {
  return {
    summary: p.summary,
    start: toInstant(p.start, p.timezone),
    end: toInstant(p.end, p.timezone),
    description: p.description,
    location: p.location,
    attendees: p.attendees,
    organizer: p.attendees && p.attendees.length > 0 ? creds.organizer : undefined,
    timezone: p.timezone,
  };
}

/** The first calendar of the account that holds events, found by CalDAV discovery (tsdav). */
async function discover(creds: CalendarCredentials, redact?: (text: string) => string): Promise<string> {
  let calendars;
  try {
    const dav = await createDAVClient({
      serverUrl: creds.serverUrl,
      credentials: { username: creds.username, password: creds.password },
      authMethod: 'Basic',
      defaultAccountType: 'caldav',
    });
    calendars = await dav.fetchCalendars();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const safe = redactorFor({ credentials: undefined, redact }, [creds.password])(msg).slice(0, 200);
    if (/401|403|unauthori[sz]ed|forbidden/i.test(safe)) throw new PermanentError(`caldav discovery refused: ${safe}`);
    throw new RetryableError(`caldav discovery failed: ${safe}`, { cause: err });
  }
  const cal = calendars.find((c) => !c.components || c.components.includes('VEVENT'));
  if (!cal) throw new PermanentError('caldav discovery found no calendar for events on this account; set calendarUrl');
  return cal.url;
}
