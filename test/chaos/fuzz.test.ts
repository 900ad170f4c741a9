import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { request as undiciRequest } from 'undici';
import { ConfigFileError, FleetConfig, loadPolicy, Policy, readConfigFile } from '@handoff/contracts';
import { loadFleet } from '@handoff/router';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';
import {
  contentTypes,
  deepJsonText,
  deepValue,
  nastyString,
  nearValidText,
  rawExchange,
  recordRoutes,
  weirdQuery,
  weirdSegment,
  type SeenRoute,
} from './fuzzSupport.ts';
import { report, sleep } from './support.ts';

const SECONDS = Number(process.env.CHAOS_FUZZ_SECONDS ?? 45);
const SEED = Number(process.env.CHAOS_FUZZ_SEED ?? Date.now() % 2 ** 31);
const TABLES = ['intents', 'approvals', 'gates', 'gate_history', 'api_tokens', 'audit_log'] as const;

interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

let uniq = 0;
/** Valid bodies for the routes we know; every other route gets arbitrary JSON. */
function seedBody(method: string, url: string): unknown {
  const key = `fz-${uniq++}`;
  switch (`${method} ${url}`) {
    case 'POST /v1/intents':
    case 'POST /v1/intents/':
      return {
        channel: 'webhook',
        idempotencyKey: key,
        payload: { url: 'http://127.0.0.1:9/hook', body: { a: [1, 'two'] }, headers: { 'x-a': 'b' } },
        requiresApproval: true,
        maxAttempts: 3,
        notBefore: new Date(Date.now() + 3_600_000).toISOString(),
      };
    case 'POST /v1/intents/:id/approve':
    case 'POST /v1/intents/:id/retry':
      return { reason: 'fuzz' };
    case 'POST /v1/intents/:id/reject':
      return { reason: 'fuzz says no' };
    case 'POST /v1/intents/:id/resolve':
      return { externalId: 'ext-1', url: 'https://example.invalid/1', reason: 'fuzz' };
    case 'PUT /v1/gates/:scope':
      return { enabled: true, reason: 'fuzz' };
    case 'POST /v1/tokens':
    case 'POST /v1/tokens/':
      return { role: 'viewer', name: key };
    case 'POST /v1/chat/completions':
      return { model: 'fz-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: false };
    case 'POST /v1/responses':
      return { model: 'fz-model', input: 'hi', instructions: 'be brief', max_output_tokens: 5 };
    default:
      return {};
  }
}

function fillParams(url: string, values: { id: string; scope: string; other: string }): string {
  return url
    .replace(/:id\b/g, values.id)
    .replace(/:scope\b/g, values.scope)
    .replace(/:[A-Za-z_]+/g, values.other)
    .replace(/\*/g, values.other);
}

interface Tokens {
  operator: string;
  agent: string;
  viewer: string;
}

function requests(routes: SeenRoute[], ids: string[], tokens: Tokens): fc.Arbitrary<FuzzRequest> {
  const route = fc.constantFrom(...routes);
  const id = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ids) }, { weight: 1, arbitrary: weirdSegment });
  const scope = fc.oneof(fc.constantFrom('global', 'webhook', 'webhook:acct', 'x:@a', 'noop'), weirdSegment);
  const params = fc.record({ id, scope, other: weirdSegment });
  const operator = { authorization: `Bearer ${tokens.operator}` };
  const auth = fc.constantFrom<Record<string, string>>(
    operator,
    operator,
    operator,
    { authorization: `Bearer ${tokens.agent}` },
    { authorization: `Bearer ${tokens.viewer}` },
  );
  const badAuth = fc.oneof(
    fc.constantFrom<Record<string, string>>(
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: `Bearer ${tokens.operator}x` },
      { authorization: `Bearer ${tokens.operator} ${tokens.operator}` },
      { authorization: `bearer\t${tokens.operator.slice(0, 10)}` },
      { authorization: `Bearer hnd_${'A'.repeat(43)}` },
      { authorization: `Bearer hnd_${'A'.repeat(10_000)}` },
    ),
    fc.string({ maxLength: 200 }).map((s) => ({ authorization: `Bearer ${s.replace(/[\r\n\0]/g, '')}` })),
  );
  const json = (v: unknown): string => JSON.stringify(v) ?? 'null';

  const nearValidRequest = fc
    .record({ route, params, auth, query: fc.constantFrom('', '', '?x=1') })
    .chain(({ route: r, params: p, auth: a, query }) =>
      nearValidText(seedBody(r.method, r.url)).map((body) => ({
        kind: 'near-valid',
        method: r.method,
        path: fillParams(r.url, p) + query,
        headers: { ...a, 'content-type': 'application/json' },
        body,
      })),
    );
  const arbitraryJson = fc
    .record({
      route,
      params,
      auth,
      body: fc.oneof(
        { weight: 4, arbitrary: fc.jsonValue().map(json) },
        { weight: 1, arbitrary: deepValue.map(json) },
        { weight: 1, arbitrary: deepJsonText },
      ),
    })
    .map(({ route: r, params: p, auth: a, body }) => ({
      kind: 'json',
      method: r.method,
      path: fillParams(r.url, p),
      headers: { ...a, 'content-type': 'application/json' },
      body,
    }));
  const rawBytes = fc
    .record({
      route,
      params,
      auth,
      contentType: contentTypes,
      bytes: fc.oneof(
        fc.uint8Array({ maxLength: 4096 }),
        nastyString.map((s) => Buffer.from(s)),
      ),
    })
    .map(({ route: r, params: p, auth: a, contentType, bytes }) => ({
      kind: 'bytes',
      method: r.method,
      path: fillParams(r.url, p),
      headers: { ...a, ...(contentType === undefined ? {} : { 'content-type': contentType }) },
      body: Buffer.from(bytes),
    }));
  const weirdPath = fc
    .record({
      route,
      params,
      auth,
      method: fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      query: weirdQuery,
      extra: fc.constantFrom('', '/', '//', '/..', '/x', '%2f'),
    })
    .map(({ route: r, params: p, auth: a, method, query, extra }) => ({
      kind: 'path',
      method,
      path: fillParams(r.url, p) + extra + query,
      headers: a,
      ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: json(seedBody(r.method, r.url)) } : {}),
    }))
    .map((req) =>
      req.body === undefined ? req : { ...req, headers: { ...req.headers, 'content-type': 'application/json' } },
    );
  const unauthenticated = fc.record({ route, params, auth: badAuth }).map(({ route: r, params: p, auth: a }) => ({
    kind: 'auth',
    method: r.method,
    path: fillParams(r.url, p),
    headers: { ...a, ...(r.method === 'GET' || r.method === 'HEAD' ? {} : { 'content-type': 'application/json' }) },
    ...(r.method === 'GET' || r.method === 'HEAD' ? {} : { body: json(seedBody(r.method, r.url)) }),
  }));
  return fc.oneof(
    { weight: 8, arbitrary: nearValidRequest },
    { weight: 3, arbitrary: arbitraryJson },
    { weight: 3, arbitrary: rawBytes },
    { weight: 3, arbitrary: weirdPath },
    { weight: 2, arbitrary: unauthenticated },
  );
}

/** Raw-socket abuse: broken chunked encoding, truncated bodies, bad request lines and headers. */
interface RawCase {
  name: string;
  bytes: Buffer[];
  endAfter: boolean;
}

function rawCases(port: number, token: string): fc.Arbitrary<RawCase> {
  const auth = `Authorization: Bearer ${token}\r\n`;
  const body = JSON.stringify({ channel: 'webhook', idempotencyKey: 'raw', payload: { url: 'http://127.0.0.1:9/' } });
  const head = (extra: string, path = '/v1/intents'): string =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${auth}Content-Type: application/json\r\n${extra}`;
  return fc.oneof(
    fc.record({ cut: fc.nat({ max: body.length - 1 }), end: fc.boolean() }).map(({ cut, end }) => ({
      name: 'truncated',
      bytes: [Buffer.from(`${head(`Content-Length: ${body.length}\r\n`)}\r\n${body.slice(0, cut)}`)],
      endAfter: end,
    })),
    fc
      .record({ size: fc.constantFrom('zz', '-1', 'ffffffffffffffff', '', '1;ext=\u0000', '0x10'), end: fc.boolean() })
      .map(({ size, end }) => ({
        name: 'bad-chunk',
        bytes: [Buffer.from(`${head('Transfer-Encoding: chunked\r\n')}\r\n${size}\r\n${body}\r\n0\r\n\r\n`)],
        endAfter: end,
      })),
    fc.record({ n: fc.integer({ min: 1, max: 40 }), end: fc.boolean() }).map(({ n, end }) => ({
      name: 'chunk-cut',
      bytes: [Buffer.from(`${head('Transfer-Encoding: chunked\r\n')}\r\n${(body.length + n).toString(16)}\r\n${body}`)],
      endAfter: end,
    })),
    fc.constantFrom<RawCase>(
      {
        name: 'cl-te',
        bytes: [Buffer.from(`${head(`Content-Length: 3\r\nTransfer-Encoding: chunked\r\n`)}\r\n0\r\n\r\n`)],
        endAfter: false,
      },
      {
        name: 'two-cl',
        bytes: [Buffer.from(`${head('Content-Length: 2\r\nContent-Length: 3\r\n')}\r\n{}x`)],
        endAfter: false,
      },
      { name: 'bad-line', bytes: [Buffer.from('GARBAGE / HTTP/9.9\r\n\r\n')], endAfter: false },
      { name: 'no-version', bytes: [Buffer.from('GET /healthz\r\n\r\n')], endAfter: false },
      { name: 'nul-path', bytes: [Buffer.from('GET /v1/intents/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n')], endAfter: false },
      {
        name: 'huge-header',
        bytes: [Buffer.from(`GET /v1/intents HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)],
        endAfter: false,
      },
      {
        name: 'header-nul',
        bytes: [Buffer.from(`GET /v1/intents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\u0000b\r\n\r\n`)],
        endAfter: false,
      },
      { name: 'neg-cl', bytes: [Buffer.from(`${head('Content-Length: -5\r\n')}\r\n{}`)], endAfter: false },
      { name: 'slow-nothing', bytes: [Buffer.from('POST /v1/intents HTTP/1.1\r\n')], endAfter: true },
      { name: 'empty', bytes: [Buffer.alloc(0)], endAfter: true },
    ),
    fc
      .uint8Array({ minLength: 1, maxLength: 600 })
      .map((b) => ({ name: 'noise', bytes: [Buffer.from(b)], endAfter: true })),
  );
}

async function countRows(stack: Stack): Promise<string> {
  const parts = TABLES.map((t) => sql`(SELECT count(*) FROM ${sql.table(t)})`);
  const row = await sql<{ c: string }>`SELECT concat_ws(',', ${sql.join(parts)}) AS c`.execute(stack.tdb.db);
  return row.rows[0]!.c;
}

async function fuzzConfigFiles(seed: number): Promise<{ tried: number; problems: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-fuzz-cfg-'));
  const problems: string[] = [];
  let tried = 0;
  try {
    const policySeed = {
      approval: { default: 'draft_only', rules: [{ channel: 'webhook', requireApproval: false }], ttlSeconds: 3600 },
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 5 },
      webhook: { allowedHosts: ['example.com'], timeoutMs: 1000 },
      lease: { ttlSeconds: 30 },
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 },
      rateLimits: { 'x:default': { capacity: 20, refillPerSecond: 20 } },
    };
    const fleetSeed = {
      nodes: [
        {
          id: 'n1',
          baseUrl: 'http://127.0.0.1:9/v1',
          kind: 'vllm',
          models: [{ id: 'm', contextWindow: 8192, aliases: ['small'] }],
        },
      ],
      escalation: ['m'],
      thresholds: { quarantineAfterFailures: 3 },
    };
    const text = (v: unknown): string | Buffer => (Buffer.isBuffer(v) ? v : (JSON.stringify(v) ?? 'null'));
    const content = (seedValue: unknown): fc.Arbitrary<string | Buffer> =>
      fc.oneof(
        { weight: 4, arbitrary: nearValidText(seedValue) },
        { weight: 2, arbitrary: fc.jsonValue().map(text) },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
        { weight: 1, arbitrary: deepValue.map(text) },
        { weight: 1, arbitrary: deepJsonText },
        {
          weight: 1,
          arbitrary: fc.constantFrom<string | Buffer>(
            '',
            ' ',
            '\ufeff{}',
            '{',
            '{"nodes": [}',
            'null',
            '[]',
            '"x"',
            '1e999',
            Buffer.from([0xff, 0xfe, 0, 0]),
          ),
        },
      );
    const files = [
      { name: 'policy.json', schema: Policy as unknown as Parameters<typeof readConfigFile>[1], seed: policySeed },
      { name: 'nodes.json', schema: FleetConfig as unknown as Parameters<typeof readConfigFile>[1], seed: fleetSeed },
    ];
    for (const [i, f] of files.entries()) {
      const path = join(dir, f.name);
      for (const input of fc.sample(content(f.seed), { numRuns: 1500, seed: seed + i })) {
        tried++;
        writeFileSync(path, input);
        try {
          const r = readConfigFile(path, f.schema, {});
          if (!r.ok && (typeof r.message !== 'string' || !r.message.startsWith(`${f.name}:`)))
            problems.push(`${f.name}: refusal without a message: ${JSON.stringify(r)}`);
        } catch (err) {
          problems.push(`${f.name}: readConfigFile threw ${String(err)} on ${String(input).slice(0, 200)}`);
        }
      }
      // the loaders themselves: a bad file at start is a ConfigFileError naming the file, nothing else
      const load = f.name === 'policy.json' ? (home: string) => loadPolicy(home) : (home: string) => loadFleet(home);
      for (const input of fc.sample(content(f.seed), { numRuns: 150, seed: seed + 10 + i })) {
        tried++;
        writeFileSync(path, input);
        try {
          load(dir).close();
        } catch (err) {
          if (!(err instanceof ConfigFileError) || !err.message.startsWith(`${f.name}:`))
            problems.push(`${f.name}: load threw ${String(err)}`);
        }
      }
      // a running watcher: a bad change is refused through onError and the last good value stays
      writeFileSync(path, JSON.stringify(f.seed));
      const refusals: string[] = [];
      const changes: unknown[] = [];
      const handlers = {
        intervalMs: 20,
        onError: (m: string) => refusals.push(m),
        onChange: (v: unknown) => changes.push(v),
      };
      const watcher = f.name === 'policy.json' ? loadPolicy(dir, handlers) : loadFleet(dir, handlers);
      try {
        const good = JSON.stringify(watcher.current());
        const seedText = JSON.stringify(f.seed);
        for (const input of fc.sample(content(f.seed), { numRuns: 25, seed: seed + 20 + i })) {
          tried++;
          // back to the good file first (an accepted input changed it), then the input
          writeFileSync(path, seedText);
          await waitFor(
            `${f.name}: the watcher to return to the good file`,
            async () => JSON.stringify(watcher.current()) === good,
            5_000,
            10,
          );
          await sleep(60);
          refusals.length = 0;
          changes.length = 0;
          writeFileSync(path, input);
          const text = Buffer.from(input).toString();
          if (text === seedText) continue; // not a change
          const heard = await waitFor(
            `${f.name}: the watcher to answer`,
            async () => refusals.length + changes.length > 0,
            5_000,
            10,
          ).catch(() => false);
          if (!heard) problems.push(`${f.name}: the watcher said nothing about a changed file: ${text.slice(0, 100)}`);
          else if (
            refusals.length > 0 &&
            (!refusals[0]!.startsWith(`${f.name}:`) || JSON.stringify(watcher.current()) !== good)
          ) {
            problems.push(
              `${f.name}: a refused change must name the file and keep the last good value: ${refusals[0]}`,
            );
          }
        }
      } finally {
        watcher.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { tried, problems };
}

test(`bad input: ${SECONDS} s of fuzzing every HTTP endpoint, and the policy and fleet files: no 5xx, no crash, no row from a rejected request`, async () => {
  const t0 = Date.now();
  const config = await fuzzConfigFiles(SEED);
  const configSeconds = (Date.now() - t0) / 1000;
  assert.deepEqual(config.problems.slice(0, 20), [], 'config files: every bad input refused with a message');

  const model = await startFakeOpenAI({ models: [{ id: 'fz-model', contextWindow: 4096 }], responses: true });
  const seen = recordRoutes();
  let stack: Stack | undefined;
  try {
    stack = await startStack({ policy: {} });
    seen.stop();
    const s = stack;
    writeFileSync(
      join(s.home, 'nodes.json'),
      JSON.stringify({
        nodes: [{ id: 'fz', baseUrl: model.url, kind: 'vllm', models: [{ id: 'fz-model', contextWindow: 4096 }] }],
      }),
    );
    await waitFor(
      'the router to load nodes.json',
      async () => JSON.stringify((await s.api('GET', '/v1/models')).body).includes('fz-model'),
      20_000,
      100,
    );

    const routes = [...new Map(seen.routes.map((r) => [`${r.method} ${r.url}`, r])).values()];
    assert.ok(routes.length >= 15, `saw ${routes.length} routes`);
    const mint = async (role: string): Promise<string> =>
      (await s.api<{ token: string }>('POST', '/v1/tokens', { role, name: `fz-${role}` })).body.token;
    const tokens: Tokens = { operator: s.token, agent: await mint('agent'), viewer: await mint('viewer') };
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const created = await s.api<{ id: string }>('POST', '/v1/intents', {
        channel: 'webhook',
        idempotencyKey: `fz-seed-${i}`,
        payload: { url: 'http://127.0.0.1:9/hook', body: {} },
        requiresApproval: true,
      });
      assert.equal(created.status, 201);
      ids.push(created.body.id);
    }

    const port = Number(new URL(s.coordinator.url).port);
    const failures: string[] = [];
    const rowsWritten: string[] = [];
    const unclear: string[] = [];
    const byStatus = new Map<number, number>();
    const byKind = new Map<string, number>();
    let tried = 0;
    let clientRefused = 0;
    let rows = await countRows(s);
    const deadline = Date.now() + SECONDS * 1000;
    const arb = requests(routes, ids, tokens);

    for (let batch = 0; Date.now() < deadline; batch++) {
      for (const req of fc.sample(arb, { numRuns: 100, seed: SEED + batch })) {
        if (Date.now() >= deadline) break;
        let status: number;
        let text: string;
        try {
          const res = await undiciRequest(`${s.coordinator.url}${req.path}`, {
            method: req.method as 'GET',
            headers: req.headers,
            body: req.body,
            headersTimeout: 30_000,
            bodyTimeout: 30_000,
          });
          status = res.statusCode;
          text = await res.body.text();
        } catch (err) {
          // undici refuses some inputs itself (a path with spaces, a header with a newline): not the server's doing
          const code = (err as { code?: string }).code ?? '';
          if (
            code.startsWith('UND_ERR_INVALID') ||
            (err as Error).name === 'InvalidArgumentError' ||
            (err as Error).name === 'TypeError'
          ) {
            clientRefused++;
            continue;
          }
          throw new Error(`${req.method} ${req.path.slice(0, 200)}: ${String(err)}`, { cause: err });
        }
        tried++;
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        byKind.set(req.kind, (byKind.get(req.kind) ?? 0) + 1);
        const what = `${req.kind} ${req.method} ${req.path.slice(0, 120)} ${String(req.body ?? '').slice(0, 300)}`;
        if (status >= 500) {
          failures.push(`${status} for ${what} -> ${text.slice(0, 300)}`);
        }
        if (status >= 400 && status < 500 && req.method !== 'HEAD') {
          let message: unknown;
          try {
            // fastify's own URL errors (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH) are answered before routing, in
            // fastify's flat shape {error, code, message}: still a message, see the report for the server.ts diff
            const parsed = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
            message = parsed.error?.message ?? parsed.message;
          } catch {
            message = undefined;
          }
          if (typeof message !== 'string' || /\n\s+at /.test(text))
            unclear.push(`${status} ${what} -> ${text.slice(0, 200)}`);
        }
        const after = await countRows(s);
        if (after !== rows && (status < 200 || status >= 300))
          rowsWritten.push(`${status} ${what}: rows ${rows} -> ${after}`);
        rows = after;
      }
    }

    // raw sockets, many at once: nothing here may get a 5xx; the server must keep serving
    let rawTried = 0;
    const rawStatus = new Map<string, number>();
    const rowsBeforeRaw = await countRows(s);
    let raw2xx = 0;
    for (let batch = 0; batch < 8; batch++) {
      const cases = fc.sample(rawCases(port, s.token), { numRuns: 60, seed: SEED + 1000 + batch });
      const statuses = await Promise.all(cases.map((c) => rawExchange(port, c.bytes, { endAfter: c.endAfter })));
      for (const [i, st] of statuses.entries()) {
        rawTried++;
        const key = `${cases[i]!.name}:${st ?? 'closed'}`;
        rawStatus.set(key, (rawStatus.get(key) ?? 0) + 1);
        if (st !== null && st >= 500) failures.push(`${st} for raw ${cases[i]!.name}`);
        if (st !== null && st >= 200 && st < 300) raw2xx++;
      }
    }
    if (raw2xx === 0) assert.equal(await countRows(s), rowsBeforeRaw, 'no row from a raw request that was refused');

    const health = await s.api('GET', '/healthz');
    assert.equal(health.status, 200, 'the server still answers /healthz');
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} answers were 5xx`);
    assert.deepEqual(rowsWritten.slice(0, 20), [], `${rowsWritten.length} rejected requests wrote rows`);
    assert.deepEqual(unclear.slice(0, 20), [], `${unclear.length} 4xx answers carried no error message`);
    report('fuzz', {
      seed: SEED,
      routes: routes.length,
      http_inputs: tried,
      raw_socket_inputs: rawTried,
      config_inputs: config.tried,
      total_inputs: tried + rawTried + config.tried,
      config_seconds: configSeconds.toFixed(1),
      client_refused: clientRefused,
      status_5xx: failures.length,
      rows_from_rejected: rowsWritten.length,
      statuses: [...byStatus.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([k, v]) => `${k}:${v}`)
        .join(','),
      per_second: (tried / SECONDS).toFixed(0),
    });
  } finally {
    seen.stop();
    await stack?.close();
    await model.close();
  }
});
