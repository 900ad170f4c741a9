import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net from 'node:net';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fc from 'fast-check';

/** A route as the server registered it: method, full URL pattern (`/v1/intents/:id`), who may call it. */
export interface SeenRoute {
  method: string;
  url: string;
  access: string | undefined;
}

/**
 * Records every route of every fastify instance created while it listens (fastify publishes
 * `fastify.initialization` for each new instance), so the fuzzer covers routes added later (the
 * agent endpoints, ...) without a list kept by hand.
 */
export function recordRoutes(): { routes: SeenRoute[]; stop(): void } {
  const routes: SeenRoute[] = [];
  const onInit = (message: unknown): void => {
    const app = (message as { fastify: FastifyInstance }).fastify;
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods)
        routes.push({
          method: String(method),
          url: route.url ?? '/',
          access: route.config?.access as string | undefined,
        });
    });
  };
  subscribe('fastify.initialization', onInit);
  return { routes, stop: () => unsubscribe('fastify.initialization', onInit) };
}

/** One raw exchange: returns the status code of the answer, or null when the server closed without one. */
export function rawExchange(
  port: number,
  bytes: Buffer[],
  opts: { endAfter?: boolean; timeoutMs?: number } = {},
): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : null);
    };
    socket.setTimeout(opts.timeoutMs ?? 1500, finish);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      // the status line is all we need
      if (/\r\n/.test(data)) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => {
      for (const b of bytes) socket.write(b);
      if (opts.endAfter) socket.end();
    });
  });
}

// -------------------------------------------------------------------------------------------------
// Generators

/** Strings that tend to break things: NULs, lone surrogates, RTL marks, huge, SQL and path noise. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    '\u202e\u0301',
    '💥'.repeat(100),
    "'; DROP TABLE intents; --",
    '../../etc/passwd',
    '%00',
    '__proto__',
    'constructor',
    'global',
    'webhook',
    'noop',
    'x:@y',
    ' ',
    '\n',
    'null',
    '1e309',
  ),
  fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)),
);

/** Numbers at the edges. */
export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, -1, 1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e308, 5e-324, 0.5, 101, 1001),
);

/** A value that is nested `depth` arrays or objects deep (JSON.stringify itself recurses, so at most 2,000). */
export const deepValue: fc.Arbitrary<unknown> = fc
  .record({ depth: fc.integer({ min: 10, max: 2_000 }), obj: fc.boolean() })
  .map(({ depth, obj }) => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = obj ? { a: v } : [v];
    return v;
  });

/** JSON text nested around the limits, or far deeper than any stringify could write (up to 100,000 levels). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 50, max: 300 }), fc.integer({ min: 1_000, max: 100_000 })),
    obj: fc.boolean(),
  })
  .map(({ depth, obj }) =>
    obj ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + '1' + ']'.repeat(depth),
  );

/** Any replacement for one field. */
export const fieldReplacement: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: nastyNumber },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [[]], { '': '' }) },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) },
);

/** Paths into a JSON value (every key and index, recursively, up to depth 4). */
function pathsOf(value: unknown, prefix: (string | number)[] = [], depth = 0): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (depth > 4 || typeof value !== 'object' || value === null) return out;
  for (const [k, v] of Object.entries(value)) {
    const key = Array.isArray(value) ? Number(k) : k;
    out.push([...prefix, key], ...pathsOf(v, [...prefix, key], depth + 1));
  }
  return out;
}

function setAt(
  value: unknown,
  path: (string | number)[],
  next: unknown,
  mode: 'replace' | 'delete' | 'extra',
): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let target = copy;
  for (const segment of path.slice(0, -1)) target = target[segment] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (mode === 'delete') delete target[last];
  else if (mode === 'extra') (target as Record<string, unknown>)[`extra_${String(last)}`] = next;
  else target[last] = next;
  return copy;
}

const DEEP_MARK = '\u0001deep\u0001';

/**
 * A valid body, as JSON text, with one field replaced, deleted, a sibling key added, or the field
 * replaced by JSON nested far deeper than JSON.stringify could write.
 */
export function nearValidText(seed: unknown): fc.Arbitrary<string> {
  const paths = pathsOf(seed);
  const text = (v: unknown): string => JSON.stringify(v) ?? 'null';
  if (paths.length === 0) return fieldReplacement.map(text);
  return fc
    .record({
      path: fc.constantFrom(...paths),
      mode: fc.constantFrom('replace', 'replace', 'replace', 'replace', 'delete', 'extra', 'deep'),
      next: fieldReplacement,
      deep: deepJsonText,
    })
    .map(({ path, mode, next, deep }) => {
      if (mode !== 'deep') return text(setAt(seed, path, next, mode as 'replace' | 'delete' | 'extra'));
      return text(setAt(seed, path, DEEP_MARK, 'replace')).replace(JSON.stringify(DEEP_MARK), deep);
    });
}

export const contentTypes: fc.Arbitrary<string | undefined> = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'application/xml',
  'application/vnd.api+json',
  'application/json-patch+json',
  '*/*',
  ';;;',
  'application/json; boundary=\u0000',
  'x'.repeat(2000),
);

/** Path segments and query strings a router or a parser might choke on. */
export const weirdSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '%',
    '%zz',
    '%00',
    '%2e%2e',
    '..',
    '.',
    '%2F',
    '%ff%fe',
    '%c0%ae',
    '*',
    ';',
    '00000000-0000-0000-0000-000000000000',
    'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    'x'.repeat(5000),
    '?',
    '#',
    '🙂',
    '__proto__',
  ),
  fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
  fc.uuid(),
);

export const weirdQuery: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '?',
    '?limit=-1',
    '?limit=0',
    '?limit=1e3',
    '?limit=abc',
    '?limit=99999999999999999999',
    '?limit=1&limit=2',
    '?state=succeeded&state=dead',
    '?state[]=x',
    '?__proto__[x]=1',
    '?constructor[prototype][x]=1',
    '?channel=%00',
    '?token=hnd_' + 'A'.repeat(43),
    '?a=' + 'b'.repeat(10_000),
    '?&&&==',
    '?%',
  ),
  fc
    .dictionary(
      fc.constantFrom('limit', 'state', 'channel', 'account', 'token', 'x', ''),
      fc.oneof(
        nastyString.map((s) => s.slice(0, 300)),
        fc.integer().map(String),
      ),
      { maxKeys: 4 },
    )
    .map((d) => '?' + new URLSearchParams(d as Record<string, string>).toString()),
);
