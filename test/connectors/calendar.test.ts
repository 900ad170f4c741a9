import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { sql } from 'kysely';
import { request } from 'undici';
import { Policy } from '@handoff/contracts';
import { PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from '@handoff/connectors';
import type { ConnectorContext, ConnectorIntent } from '@handoff/connectors';
import { claimLease, recordAttempt } from '@handoff/intents';
import { CalendarPayload, calendarEventUid, createCalendarConnector } from '@handoff/connectors';
import type { CalendarCredentials } from '@handoff/connectors';
// Not on the package's surface: the marker and the iCalendar text are tested where they are made.
import { intentMarker } from '../../libs/connectors/calendar.ts';
import {
  buildEvent,
  eventProperty,
  escapeText,
  foldLine,
  toInstant,
  unfold,
} from '../../libs/connectors/calendarIcs.ts';
import { processTicket } from '@handoff/executor';
import { radicaleAvailable, startRadicale, type RadicalePeer } from '../support/radicale.ts';
import { freePort } from '../support/ports.ts';
import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';

const PASS = `caldav-secret-${randomUUID()}`;
const WRONG = `caldav-wrong-${randomUUID()}`;
const SECRETS = [
  PASS,
  WRONG,
  Buffer.from(`cal:${PASS}`).toString('base64'),
  Buffer.from(`cal:${WRONG}`).toString('base64'),
];

const logLines: string[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);
const errorsSeen: string[] = [];

/**
 * A counting HTTP proxy in front of Radicale: records every request that reaches the peer, and can
 * answer for it (429/503) or forward a request and then cut the client's connection before the answer.
 */
interface Proxy {
  url: string;
  seen: { method: string; path: string }[];
  mode: 'forward' | 'drop-after-forward' | 'rate-limit';
  close(): Promise<void>;
}

async function startProxy(upstreamPort: number): Promise<Proxy> {
  const proxy: Proxy = { url: '', seen: [], mode: 'forward', close: async () => {} };
  const server: Server = createServer((req, res) => {
    const mode = proxy.mode;
    if (mode === 'rate-limit') {
      req.resume();
      res.writeHead(429, { 'retry-after': '7' }).end('slow down');
      return;
    }
    proxy.seen.push({ method: req.method ?? '', path: req.url ?? '' });
    const up = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        if (mode === 'drop-after-forward' && req.method !== 'GET') {
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

let rad: RadicalePeer | undefined;
let proxy: Proxy;
let calUrl: string;
let h: PipelineHarness;
const connector = createCalendarConnector({ timeoutMs: 5_000, connectTimeoutMs: 2_000 });

function creds(opts: { pass?: string; calendarUrl?: string | null } = {}): CalendarCredentials {
  const base = { serverUrl: proxy.url, username: 'cal', password: opts.pass ?? PASS };
  if (opts.calendarUrl === null) return base;
  return { ...base, calendarUrl: opts.calendarUrl ?? calUrl };
}

function ctx(c: CalendarCredentials | undefined, extra: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    signal: new AbortController().signal,
    log,
    credentials: c as Record<string, unknown> | undefined,
    policy: Policy.parse({}),
    ...extra,
  };
}

/** An intent as the executor hands it over; the same `id` and `key` are the same intent's later attempt. */
function cal(
  payload: unknown,
  key: string = randomUUID(),
  id: string = randomUUID(),
): ConnectorIntent<CalendarPayload> {
  return {
    id,
    channel: 'calendar',
    account: 'main',
    idempotencyKey: key,
    payload: CalendarPayload.parse(payload),
    createdAt: new Date(),
    attemptNo: 1,
  };
}

const event = {
  op: 'create',
  summary: 'Planning, Q1; review',
  start: '2026-12-01T09:00:00Z',
  end: '2026-12-01T10:00:00Z',
  description: 'Line one\nLine two, with \\ backslash',
  location: 'Room 1',
};

async function rejectsWith<T extends Error>(fn: () => Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) errorsSeen.push(`${err.name}: ${err.message}`);
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, nothing thrown`);
}

async function fetchObject(uid: string): Promise<{ status: number; body: string; etag?: string }> {
  const res = await request(`${calUrl}${uid}.ics`, {
    headers: { authorization: `Basic ${Buffer.from(`cal:${PASS}`).toString('base64')}` },
  });
  const body = await res.body.text();
  const etag = res.headers.etag;
  return { status: res.statusCode, body, etag: Array.isArray(etag) ? etag[0] : etag };
}

/** A PUT of a whole object as another writer would make it (If-None-Match: *), past the proxy's count. */
async function putRaw(uid: string, ics: string): Promise<number> {
  const res = await request(`${calUrl.replace(proxy.url, rad!.baseUrl)}${uid}.ics`, {
    method: 'PUT',
    headers: {
      authorization: `Basic ${Buffer.from(`cal:${PASS}`).toString('base64')}`,
      'if-none-match': '*',
      'content-type': 'text/calendar',
    },
    body: ics,
  });
  await res.body.text();
  return res.statusCode;
}

const puts = (uid: string): number => proxy.seen.filter((r) => r.method === 'PUT' && r.path.includes(uid)).length;

before(async () => {
  if (!radicaleAvailable()) return;
  rad = await startRadicale({ user: 'cal', pass: PASS });
  proxy = await startProxy(rad.port);
  calUrl = (await rad.makeCalendar(`test-${randomUUID().slice(0, 8)}`)).replace(rad.baseUrl, proxy.url);
  h = await startPipeline({
    connectors: [connector],
    policy: { approval: { rules: [{ channel: 'calendar', requireApproval: false }] }, lease: { ttlSeconds: 5 } },
  });
});

after(async () => {
  await h?.close();
  await proxy?.close();
  await rad?.close();
  await connector.close();
});

describe('iCalendar text', () => {
  test('escapes TEXT, folds at 75 octets without splitting UTF-8, uses CRLF and UTC', () => {
    const summary = `Überraschung, ${'ä'.repeat(60)}; done\\ok\nnext`;
    const ics = buildEvent({
      uid: 'u1',
      sequence: 0,
      summary,
      start: new Date('2026-12-01T09:00:00+01:00'),
      end: new Date('2026-12-01T10:00:00+01:00'),
      marker: 'm',
      dtstamp: new Date('2026-11-22T00:00:00Z'),
    });
    assert.ok(ics.endsWith('\r\n'));
    assert.equal(
      ics.split('\r\n').some((l) => l.includes('\n')),
      false,
      'no bare LF',
    );
    for (const line of ics.split('\r\n')) assert.ok(Buffer.byteLength(line) <= 75, `line too long: ${line}`);
    assert.match(ics, /\r\nDTSTART:20261201T080000Z\r\n/);
    assert.match(ics, /\r\nDTSTAMP:20261122T000000Z\r\n/);
    assert.equal(eventProperty(ics, 'SUMMARY'), summary, 'round trip');
    assert.equal(escapeText('a,b;c\\d\ne'), 'a\\,b\\;c\\\\d\\ne');
    assert.equal(unfold(foldLine(`X:${'x'.repeat(200)}`))[0], `X:${'x'.repeat(200)}`);
  });

  test('local times need a timezone and are converted to UTC', () => {
    assert.equal(toInstant('2026-07-01T09:00:00', 'Europe/Berlin').toISOString(), '2026-07-01T07:00:00.000Z');
    assert.equal(toInstant('2026-01-15T09:00', 'America/New_York').toISOString(), '2026-01-15T14:00:00.000Z');
    assert.equal(
      CalendarPayload.safeParse({ ...event, start: '2026-12-01T09:00:00', end: '2026-12-01T10:00:00' }).success,
      false,
    );
    assert.equal(
      CalendarPayload.safeParse({
        ...event,
        start: '2026-12-01T09:00:00',
        end: '2026-12-01T10:00:00',
        timezone: 'Europe/Berlin',
      }).success,
      true,
    );
    assert.equal(
      CalendarPayload.safeParse({ ...event, end: '2026-12-01T08:00:00Z' }).success,
      false,
      'end before start',
    );
    assert.equal(CalendarPayload.safeParse({ op: 'cancel', uid: '../x' }).success, false);
    assert.equal(CalendarPayload.safeParse({ op: 'delete', uid: 'x' }).success, false);
  });
});

describe('calendar connector against Radicale', () => {
  test('create: the event exists with the UID derived from the key; a repeat is refused by the server and counts as done', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const key = `cal-${randomUUID()}`;
    const id = randomUUID();
    const uid = calendarEventUid(key);
    assert.match(uid, /^handoff-[0-9a-f]{32}$/);
    const first = await connector.execute(cal(event, key, id), ctx(creds()));
    assert.deepEqual(first, { externalId: uid, url: `${calUrl}${uid}.ics` });
    const obj = await fetchObject(uid);
    assert.equal(obj.status, 200);
    assert.equal(eventProperty(obj.body, 'UID'), uid);
    assert.equal(eventProperty(obj.body, 'SUMMARY'), event.summary);
    assert.equal(eventProperty(obj.body, 'DESCRIPTION'), event.description);

    // the server itself refuses a second create of the same UID
    const raw = await request(`${calUrl}${uid}.ics`, {
      method: 'PUT',
      headers: {
        authorization: `Basic ${Buffer.from(`cal:${PASS}`).toString('base64')}`,
        'if-none-match': '*',
        'content-type': 'text/calendar',
      },
      body: obj.body,
    });
    await raw.body.text();
    assert.equal(raw.statusCode, 412);
    // this intent's later attempt (its earlier answer lost) finds its own marker: success, unchanged
    const again = await connector.execute(cal({ ...event, summary: 'changed' }, key, id), ctx(creds()));
    assert.deepEqual(again, first);
    const after = await fetchObject(uid);
    assert.equal(after.etag, obj.etag, 'the event is unchanged');
  });

  test('update with If-Match bumps SEQUENCE; a stale ETag is permanent', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { externalId: uid } = await connector.execute(cal(event), ctx(creds()));
    const original = await fetchObject(uid);
    await connector.execute(
      cal({
        op: 'update',
        uid,
        summary: 'Moved',
        start: '2026-12-02T09:00:00Z',
        end: '2026-12-02T10:00:00Z',
        attendees: ['ann@example.test'],
      }),
      ctx(creds()),
    );
    const updated = await fetchObject(uid);
    assert.equal(eventProperty(updated.body, 'SUMMARY'), 'Moved');
    assert.equal(eventProperty(updated.body, 'SEQUENCE'), '1');
    assert.equal(eventProperty(updated.body, 'DTSTART'), '20261202T090000Z');
    assert.notEqual(updated.etag, original.etag);
    const err = await rejectsWith(
      () =>
        connector.execute(
          cal({ op: 'update', uid, etag: original.etag, summary: 'Lost update', start: event.start, end: event.end }),
          ctx(creds()),
        ),
      PermanentError,
    );
    assert.match(err.message, /412/);
    assert.equal(eventProperty((await fetchObject(uid)).body, 'SUMMARY'), 'Moved');
    await rejectsWith(
      () =>
        connector.execute(
          cal({ op: 'update', uid: 'handoff-nonexistent', summary: 'x', start: event.start, end: event.end }),
          ctx(creds()),
        ),
      PermanentError,
    );
  });

  test('cancel deletes the event (If-Match); cancelling an absent event is done', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { externalId: uid } = await connector.execute(cal(event), ctx(creds()));
    const res = await connector.execute(cal({ op: 'cancel', uid }), ctx(creds()));
    assert.equal(res.externalId, uid);
    assert.equal((await fetchObject(uid)).status, 404);
    assert.equal((await connector.execute(cal({ op: 'cancel', uid }), ctx(creds()))).externalId, uid);
  });

  test('reconcile: create found / absent; update marker; cancel absent', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const create = cal(event, `cal-rec-${randomUUID()}`);
    assert.deepEqual(await connector.reconcile!(create, ctx(creds())), { status: 'not_done' });
    const made = await connector.execute(create, ctx(creds()));
    assert.deepEqual(await connector.reconcile!(create, ctx(creds())), {
      status: 'done',
      externalId: made.externalId,
      url: made.url,
    });
    const upd = cal({ op: 'update', uid: made.externalId, summary: 'U', start: event.start, end: event.end });
    assert.equal((await connector.reconcile!(upd, ctx(creds()))).status, 'not_done');
    await connector.execute(upd, ctx(creds()));
    assert.equal((await connector.reconcile!(upd, ctx(creds()))).status, 'done');
    const cancel = cal({ op: 'cancel', uid: made.externalId });
    assert.equal((await connector.reconcile!(cancel, ctx(creds()))).status, 'not_done');
    await connector.execute(cancel, ctx(creds()));
    assert.equal((await connector.reconcile!(cancel, ctx(creds()))).status, 'done');
  });

  test("create: an event at our UID that another writer made (another intent's marker) is not ours: permanent, left unchanged", async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    // another handoff database on this calendar used the same idempotency key: same UID, its own intent
    const key = `cal-taken-${randomUUID()}`;
    const uid = calendarEventUid(key);
    const theirs = buildEvent({
      uid,
      sequence: 0,
      marker: intentMarker(randomUUID()),
      summary: 'Their event',
      start: new Date(event.start),
      end: new Date(event.end),
    });
    assert.equal(await putRaw(uid, theirs), 201);
    const before = await fetchObject(uid);
    const ours = cal(event, key);

    assert.deepEqual(await connector.reconcile!(ours, ctx(creds())), { status: 'not_done' }, 'our create did not land');
    const err = await rejectsWith(() => connector.execute(ours, ctx(creds())), PermanentError);
    assert.match(err.message, new RegExp(`event ${uid} already exists but was not written by this intent`));
    assert.match(err.message, /X-HANDOFF-INTENT/);
    const after = await fetchObject(uid);
    assert.equal(after.etag, before.etag, 'their event is unchanged');
    assert.equal(eventProperty(after.body, 'SUMMARY'), 'Their event');
  });

  test('create: an event at our UID without any marker cannot be told apart: unknown outcome, reconcile unknown', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const key = `cal-unmarked-${randomUUID()}`;
    const uid = calendarEventUid(key);
    const unmarked = buildEvent({
      uid,
      sequence: 1,
      marker: 'x',
      summary: 'Edited elsewhere',
      start: new Date(event.start),
      end: new Date(event.end),
    }).replace(/X-HANDOFF-INTENT:x\r\n/, '');
    assert.equal(eventProperty(unmarked, 'X-HANDOFF-INTENT'), undefined);
    assert.equal(await putRaw(uid, unmarked), 201);
    const ours = cal(event, key);
    assert.equal((await connector.reconcile!(ours, ctx(creds()))).status, 'unknown');
    const err = await rejectsWith(() => connector.execute(ours, ctx(creds())), UnknownOutcomeError);
    assert.match(err.message, /without an X-HANDOFF-INTENT marker/);
  });

  test('errors: 401 permanent, missing calendar permanent, 429 rate limited, unreachable retryable, reset after an update unknown', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const e401 = await rejectsWith(() => connector.execute(cal(event), ctx(creds({ pass: WRONG }))), PermanentError);
    assert.match(e401.message, /401/);
    await rejectsWith(
      () => connector.execute(cal(event), ctx(creds({ calendarUrl: `${proxy.url}/cal/missing-${randomUUID()}/` }))),
      PermanentError,
    );
    proxy.mode = 'rate-limit';
    try {
      const limited = await rejectsWith(() => connector.execute(cal(event), ctx(creds())), RateLimitedError);
      assert.equal(limited.retryAfterMs, 7000);
    } finally {
      proxy.mode = 'forward';
    }
    const dead = await freePort();
    await rejectsWith(
      () => connector.execute(cal(event), ctx({ ...creds(), calendarUrl: `http://127.0.0.1:${dead}/cal/x/` })),
      RetryableError,
    );

    const { externalId: uid } = await connector.execute(cal(event), ctx(creds()));
    proxy.mode = 'drop-after-forward';
    try {
      await rejectsWith(
        () =>
          connector.execute(
            cal({ op: 'update', uid, summary: 'cut', start: event.start, end: event.end }),
            ctx(creds()),
          ),
        UnknownOutcomeError,
      );
      // a create repeated after a cut is refused by the server itself: retryable, not unknown
      await rejectsWith(() => connector.execute(cal(event), ctx(creds())), RetryableError);
    } finally {
      proxy.mode = 'forward';
    }
    assert.equal(eventProperty((await fetchObject(uid)).body, 'SUMMARY'), 'cut', 'the cut-off update did land');
  });

  test('without calendarUrl, the calendar is discovered through tsdav', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const made = await connector.execute(cal(event), ctx(creds({ calendarUrl: null })));
    assert.equal((await fetchObject(made.externalId)).status, 200);
  });
});

describe('calendar crash recovery through the real pipeline', () => {
  let seq = 0;
  async function crashedIntent(payload: Record<string, unknown>): Promise<{ id: string; key: string }> {
    const key = `cal-crash-${process.pid}-${++seq}-${randomUUID()}`;
    const { intent } = await h.service.create(
      { channel: 'calendar', account: 'main', payload, idempotencyKey: key },
      'test',
    );
    const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 5, heldKeys: ['calendar:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
    await h.tdb.db
      .updateTable('intents')
      .set({ lease_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', intent.id)
      .execute();
    return { id: intent.id, key };
  }
  const executorB = (c: CalendarCredentials = creds()) =>
    h.executor('B', { secrets: { calendar: { main: c as Record<string, unknown> } }, log });

  test('created before the crash: reconcile done, no second PUT', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { id, key } = await crashedIntent(event);
    const uid = calendarEventUid(key);
    await connector.execute(cal(event, key, id), ctx(creds())); // A's call took effect, then A died
    assert.equal(puts(uid), 1);
    assert.equal(await processTicket(executorB(), id), 'reconciled_done');
    assert.equal(puts(uid), 1, 'no second PUT');
    const detail = await h.service.get(id);
    assert.equal(detail?.state, 'succeeded');
    assert.equal(detail?.receipts[0]?.externalId, uid);
    assert.equal(detail?.receipts[0]?.url, `${calUrl}${uid}.ics`);
  });

  test('not created before the crash: reconcile not_done, exactly one PUT', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { id, key } = await crashedIntent(event);
    const uid = calendarEventUid(key);
    assert.equal(await processTicket(executorB(), id), 'reconciled_not_done_executed');
    assert.equal(puts(uid), 1, 'exactly one PUT');
    assert.equal((await fetchObject(uid)).status, 200);
  });

  test('an update cut off before the crash: done when it landed, one more PUT when not', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { externalId: uid } = await connector.execute(cal(event), ctx(creds()));
    const upd = { op: 'update', uid, summary: 'landed', start: event.start, end: event.end };
    const landed = await crashedIntent(upd);
    await connector.execute(cal(upd, landed.key, landed.id), ctx(creds()));
    const before = puts(uid);
    assert.equal(await processTicket(executorB(), landed.id), 'reconciled_done');
    assert.equal(puts(uid), before);
    const notLanded = await crashedIntent({ ...upd, summary: 'second' });
    assert.equal(await processTicket(executorB(), notLanded.id), 'reconciled_not_done_executed');
    assert.equal(puts(uid), before + 1);
    assert.equal(eventProperty((await fetchObject(uid)).body, 'SUMMARY'), 'second');
  });

  test("another writer's event at our UID: reconcile not_done, the create is refused as not ours and the intent is dead", async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { id, key } = await crashedIntent(event);
    const uid = calendarEventUid(key);
    const theirs = buildEvent({
      uid,
      sequence: 0,
      marker: intentMarker(randomUUID()),
      summary: 'Their event',
      start: new Date(event.start),
      end: new Date(event.end),
    });
    assert.equal(await putRaw(uid, theirs), 201);
    assert.equal(await processTicket(executorB(), id), 'dead');
    const detail = await h.service.get(id);
    assert.equal(detail?.state, 'dead');
    assert.equal(detail?.receipts.length, 1);
    assert.equal(detail?.receipts[0]?.externalId ?? null, null, 'no receipt names their event as ours');
    assert.match(JSON.stringify(detail), /not written by this intent/);
    assert.equal(eventProperty((await fetchObject(uid)).body, 'SUMMARY'), 'Their event');
  });

  test('CalDAV server unreachable during reconcile: in_doubt, no PUT', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { id, key } = await crashedIntent(event);
    await rad.pause();
    try {
      assert.equal(await processTicket(executorB(), id), 'in_doubt');
    } finally {
      await rad.resume();
    }
    assert.equal(puts(calendarEventUid(key)), 0);
    assert.equal((await h.service.get(id))?.state, 'in_doubt');
  });

  test('wrong password through the pipeline: dead with a permanent receipt', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const { intent } = await h.service.create(
      { channel: 'calendar', account: 'main', payload: event, idempotencyKey: `cal-auth-${randomUUID()}` },
      'test',
    );
    assert.equal(await processTicket(executorB(creds({ pass: WRONG })), intent.id), 'dead');
  });
});

describe('calendar secrets', () => {
  test('no password (or its Basic encoding) appears in logs, errors, intents, attempts or receipts', async (t) => {
    if (!rad) return t.skip('radicale not installed (apt-get install radicale)');
    const dumps: string[] = [];
    for (const table of ['intents', 'attempts', 'receipts']) {
      const { rows } = await sql<{ t: string }>`SELECT t::text AS t FROM ${sql.table(table)} t`.execute(h.tdb.db);
      dumps.push(...rows.map((r) => r.t));
    }
    assert.ok(logLines.length > 0 && errorsSeen.length > 0);
    assert.ok(
      dumps.some((d) => d.includes('401')),
      'the auth failure is on record',
    );
    const everything = [...logLines, ...errorsSeen, ...dumps].join('\n');
    for (const secret of SECRETS) assert.equal(everything.includes(secret), false, 'a secret leaked');
  });
});
