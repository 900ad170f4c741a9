import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import type { IntentDetail, PolicyInput } from '@handoff/contracts';
import { createConnectorRegistry } from '@handoff/connectors';
import { createIntentService, startBoss } from '@handoff/intents';
import { intentStatusTool } from '../../libs/agent/tools/intentStatus.ts';
import type { ToolContext } from '../../libs/agent/tools/tool.ts';
import { quietLog } from '../support/pipeline.ts';
import { startSmtpPeer, type SmtpPeer } from '../support/smtpPeer.ts';
import { startStack, waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';

/**
 * A hostile receiver echoes every credential it was given back, in every common encoding, through
 * every connector: as ids, URLs, headers, error bodies and status texts. The credentials must then
 * appear in no database row, no API answer, no log line, no metric and no agent tool result.
 */

const rand = (): string => `${randomBytes(9).toString('base64url').replace(/[-_]/g, 'q')}${randomUUID().slice(0, 8)}`;
const SECRETS = {
  webhook: `Wh${rand()}`,
  deployHook: `Dh${rand()}`,
  github: `ghp_${rand()}`,
  xAccess: `Xa${rand()}`,
  xRefresh: `Xr${rand()}`,
  xClientSecret: `Xc${rand()}`,
  smtp: `Sm${rand()}`,
  caldav: `Cd${rand()}`,
};
const ALL = Object.values(SECRETS);
const CALDAV_USER = 'caluser';
const BASIC = Buffer.from(`${CALDAV_USER}:${SECRETS.caldav}`).toString('base64');

/** Every encoding a careless provider, or a hostile one, would return a credential in. */
const ENCODINGS: Record<string, (s: string) => string> = {
  raw: (s) => s,
  upper: (s) => s.toUpperCase(),
  lower: (s) => s.toLowerCase(),
  base64: (s) => Buffer.from(s).toString('base64'),
  base64url: (s) => Buffer.from(s).toString('base64url'),
  urlencoded: (s) => encodeURIComponent(`k=${s}&`),
  hex: (s) => Buffer.from(s).toString('hex'),
  hexUpper: (s) => Buffer.from(s).toString('hex').toUpperCase(),
  prefixedBase64: (s) => Buffer.from(`token=${s}`).toString('base64'),
  percentEveryByte: (s) => [...Buffer.from(s)].map((b) => `%${b.toString(16).toUpperCase()}`).join(''),
  unicodeEscaped: (s) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
};

/** The forms the assertions look for, computed here independently of the code under test. */
function forms(secret: string): string[] {
  const out = [
    secret,
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    Buffer.from(secret).toString('base64url'),
    Buffer.from(secret).toString('hex'),
    ENCODINGS.percentEveryByte!(secret),
    ENCODINGS.unicodeEscaped!(secret),
  ];
  for (const lead of ['x', 'xy'])
    out.push(
      Buffer.from(`${lead}${secret}`)
        .toString('base64')
        .slice(lead.length + 1, -2),
    );
  return out.map((f) => f.toLowerCase());
}
const LOOK_FOR = [...ALL.flatMap(forms), BASIC.toLowerCase()];

function echoAll(): string {
  return ALL.flatMap((s) => Object.values(ENCODINGS).map((e) => e(s))).join(' ') + ` Basic ${BASIC}`;
}

let stack: Stack;
let server: Server;
let base: string;
let smtp: SmtpPeer;
let exec: ExecutorProcess;
/** Every line the coordinator logs, at debug. */
const coordinatorLines: string[] = [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** What every route answers: chosen by the encoding named in the path, `/<route>/<ok|err>/<encoding>`. */
async function hostile(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const url = new URL(req.url ?? '/', base);
  const parts = url.pathname.split('/').filter(Boolean);
  // the credential the request carried, to echo back as the "id"
  const seen = ALL.find((s) => JSON.stringify(req.headers).includes(s) || body.includes(s)) ?? SECRETS.caldav;
  const encode = (name: string | undefined): string => (ENCODINGS[name ?? 'raw'] ?? ENCODINGS.raw!)(seen);
  const json = (status: number, value: unknown, statusText?: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, statusText ?? 'OK', { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(value));
  };
  const fail = (status: number): void => {
    res.writeHead(status, `Refused ${encode('base64')}`.slice(0, 60), {
      'content-type': 'text/plain',
      'x-request-id': encode('raw'),
      'retry-after': '0',
    });
    res.end(`error: ${echoAll()}`);
  };
  // GitHub: /gh/repos/o/r/deployments, the ref picks the answer
  if (parts[0] === 'gh') {
    const ref = (JSON.parse(body || '{}') as { ref?: string }).ref ?? 'ok-raw';
    if (ref.startsWith('err')) return fail(422);
    const enc = ref.slice(3);
    return json(201, {
      id: encode(enc),
      url: `https://api.example/${encode(enc)}`,
      statuses_url: `https://u:${encode(enc)}@x.example/`,
    });
  }
  // X: /2/tweets, the text picks the answer
  if (parts[0] === '2') {
    const text = (JSON.parse(body || '{}') as { text?: string }).text ?? '';
    if (text.startsWith('err'))
      return json(400, { title: 'Invalid Request', detail: echoAll() }, `Bad ${encode('hex')}`);
    return json(201, { data: { id: encode(text.split(' ')[1]), text } });
  }
  // CalDAV: the summary picks the answer
  if (parts[0] === 'cal') {
    if (req.method === 'GET') return fail(404);
    if (body.includes('SUMMARY:err')) return fail(500);
    if (body.includes('SUMMARY:deny')) return fail(403);
    res.writeHead(201, { etag: `"${encode('base64')}"` });
    res.end();
    return;
  }
  // webhook and deploy webhook: /<hook|deploy>/<ok|err|noid|5xx>/<encoding>
  const [, kind, enc] = parts;
  if (kind === 'err') return fail(400);
  if (kind === '5xx') return fail(503);
  if (kind === 'noid') return json(200, { ok: true }, `OK ${encode(enc)}`, { 'x-request-id': encode(enc) });
  return json(
    200,
    { id: encode(enc), url: `https://receiver.example/r/${encode(enc)}?t=${encode(enc)}` },
    `OK ${encode(enc)}`,
    { 'x-request-id': encode(enc) },
  );
}

before(async () => {
  server = createServer((req, res) => void hostile(req, res).catch(() => res.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  smtp = await startSmtpPeer({ user: 'mailer', pass: SECRETS.smtp });
  const policy: PolicyInput = {
    approval: { default: 'auto' },
    retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 50 },
    // the hostile answers are failures on purpose: no breaker should hold the rest back
    breaker: { volumeThreshold: 10_000 },
    webhook: { allowedHosts: ['127.0.0.1'] },
  };
  const log = pino(
    { level: 'debug' },
    new Writable({ write: (chunk: Buffer, _e, cb) => (coordinatorLines.push(chunk.toString()), cb()) }),
  );
  stack = await startStack({ policy, log });
  const secrets = {
    webhook: { acct: { hosts: ['127.0.0.1'], headers: { authorization: `Bearer ${SECRETS.webhook}` } } },
    deploy: {
      gh: { token: SECRETS.github, apiBaseUrl: `${base}/gh` },
      hook: { hosts: ['127.0.0.1'], headers: { 'x-deploy-key': SECRETS.deployHook } },
    },
    x: {
      acct: {
        accessToken: SECRETS.xAccess,
        refreshToken: SECRETS.xRefresh,
        clientId: 'client-id',
        clientSecret: SECRETS.xClientSecret,
        apiBaseUrl: base,
        userId: '1',
        username: 'me',
      },
    },
    email: {
      acct: {
        smtp: {
          host: '127.0.0.1',
          port: smtp.port,
          secure: false,
          requireTLS: true,
          user: 'mailer',
          pass: SECRETS.smtp,
          tls: { rejectUnauthorized: false },
        },
        from: 'bot@handoff.test',
      },
    },
    calendar: {
      acct: {
        serverUrl: `${base}/cal/`,
        calendarUrl: `${base}/cal/me/`,
        username: CALDAV_USER,
        password: SECRETS.caldav,
      },
    },
  };
  const path = join(stack.home, 'secrets.json');
  writeFileSync(path, JSON.stringify(secrets));
  chmodSync(path, 0o600);
  exec = await stack.spawnExecutor('echo-1', { HANDOFF_LOG_LEVEL: 'debug' });
});

after(async () => {
  await stack?.close();
  await smtp?.close();
  server?.close();
});

test(
  'credentials echoed back in every encoding through every connector reach no row, answer, log line, metric or tool result',
  { timeout: 120_000 },
  async () => {
    const create = async (channel: string, account: string, payload: unknown): Promise<string> => {
      const res = await stack.api<{ id: string }>('POST', '/v1/intents', {
        channel,
        account,
        idempotencyKey: randomUUID(),
        payload,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id;
    };
    const encodings = Object.keys(ENCODINGS);
    const ids: string[] = [];
    for (const enc of encodings) {
      for (const kind of ['ok', 'noid'])
        ids.push(
          await create('webhook', 'acct', {
            url: `${base}/hook/${kind}/${enc}`,
            body: {},
            statusUrl: `${base}/hook/ok/${enc}`,
          }),
        );
      ids.push(await create('deploy', 'hook', { kind: 'webhook', url: `${base}/deploy/ok/${enc}` }));
      ids.push(await create('deploy', 'gh', { kind: 'github', owner: 'o', repo: 'r', ref: `ok-${enc}` }));
      ids.push(await create('x', 'acct', { text: `ok ${enc} ${randomUUID()}` }));
    }
    for (const kind of ['err', '5xx']) {
      ids.push(await create('webhook', 'acct', { url: `${base}/hook/${kind}/raw`, body: {} }));
      ids.push(await create('deploy', 'hook', { kind: 'webhook', url: `${base}/deploy/${kind}/raw` }));
    }
    ids.push(await create('deploy', 'gh', { kind: 'github', owner: 'o', repo: 'r', ref: 'err' }));
    ids.push(await create('x', 'acct', { text: `err ${randomUUID()}` }));
    const start = new Date(Date.now() + 86_400_000).toISOString();
    const end = new Date(Date.now() + 90_000_000).toISOString();
    for (const summary of ['ok', 'err', 'deny'])
      ids.push(await create('calendar', 'acct', { op: 'create', summary, start, end }));
    smtp.next.push(
      { kind: 'reply', code: 550, message: `rejected ${echoAll()}` },
      { kind: 'reply', code: 451, message: `later ${echoAll()}` },
      { kind: 'reply', code: 451, message: `later ${echoAll()}` },
    );
    for (let i = 0; i < 2; i++)
      ids.push(await create('email', 'acct', { to: 'someone@handoff.test', subject: `mail ${i}`, text: 'hello' }));

    const details: IntentDetail[] = [];
    for (const id of ids) {
      details.push(
        await waitFor(
          `intent ${id} to settle`,
          async () => {
            const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${id}`)).body;
            return ['succeeded', 'dead', 'in_doubt'].includes(d.state) ? d : null;
          },
          60_000,
        ),
      );
    }
    // the receiver really was hostile, and the effects really happened
    const succeeded = details.filter((d) => d.state === 'succeeded');
    assert.ok(succeeded.length >= encodings.length * 3, `${succeeded.length} succeeded`);
    assert.ok(
      succeeded.some((d) => d.receipts.some((r) => r.externalId?.startsWith('withheld:'))),
      'an echoed id was withheld',
    );
    assert.ok(
      details.some((d) => /\[redacted\]/.test(d.lastError ?? '')),
      'an echoed error body was redacted',
    );
    assert.ok(
      details.some((d) => d.channel === 'email' && d.state === 'dead'),
      'the SMTP rejection was recorded',
    );

    // everything anyone can read
    const haystack: string[] = [];
    const tables = await sql<{ s: string; t: string }>`
    SELECT table_schema AS s, table_name AS t FROM information_schema.tables
    WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`.execute(stack.tdb.db);
    assert.ok(tables.rows.length > 3);
    for (const { s, t } of tables.rows) {
      const rows = await sql<{ j: string }>`SELECT row_to_json(x)::text AS j FROM ${sql.id(s, t)} x`.execute(
        stack.tdb.db,
      );
      haystack.push(...rows.rows.map((r) => r.j));
    }
    for (const id of ids) haystack.push(JSON.stringify((await stack.api('GET', `/v1/intents/${id}`)).body));
    haystack.push(JSON.stringify((await stack.api('GET', '/v1/intents')).body));
    haystack.push(JSON.stringify((await stack.api('GET', '/v1/intents?state=dead')).body));
    haystack.push(JSON.stringify((await stack.api('GET', '/v1/live')).body));
    haystack.push(await (await fetch(`${stack.coordinator.url}/metrics`)).text());
    haystack.push(...exec.output, ...coordinatorLines);
    assert.ok(coordinatorLines.length > 0, 'the coordinator logged');
    assert.ok(
      exec.output.some((l) => l.includes('connector call failed')),
      'the executor logged the failures',
    );

    // the agent's intent_status tool, as the model would read it
    const boss = await startBoss(stack.tdb.url, { supervise: false });
    try {
      const intents = createIntentService({
        db: stack.tdb.db,
        boss,
        connectors: createConnectorRegistry(),
        policy: () => ({}) as never,
        log: quietLog,
      });
      for (const d of details) {
        const out = await intentStatusTool.run({ intent_id: d.id }, {
          intents,
          actor: d.createdBy,
        } as unknown as ToolContext);
        assert.ok(out.ok, out.output);
        haystack.push(out.output);
      }
    } finally {
      await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    }

    // JSON output escapes a backslash: undo it, so a \\u-escaped copy is found wherever it was stored
    const text = haystack.join('\n').toLowerCase().replaceAll('\\\\', '\\');
    // whole copies, and clipped ones: no 16 characters in a row of any form
    for (const form of LOOK_FOR) {
      for (let i = 0; i + 16 <= form.length; i++) {
        const piece = form.slice(i, i + 16);
        const at = text.indexOf(piece);
        assert.ok(
          at < 0,
          `a credential leaked (${form.slice(0, 6)}…): …${text.slice(Math.max(0, at - 200), at)}<SECRET>`,
        );
      }
    }
  },
);
