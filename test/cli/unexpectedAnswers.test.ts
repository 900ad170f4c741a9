/**
 * An answer that does not fit the contract (a coordinator of another version, a proxy in the way)
 * is one line naming the request and the fields, exit 1, never a stack trace or a half-printed table.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoStack, handoff, lines } from './run.ts';

/** Answers 200 with each route's (wrong) body; the agent run answers an event stream. */
const answers: Record<string, string> = {
  'GET /v1/live': JSON.stringify({ generatedAt: 5, gates: [] }),
  // a bare array where the contract says {intents, nextCursor}
  'GET /v1/intents': JSON.stringify([]),
  'PUT /v1/gates/global': JSON.stringify({ scope: 'global', enabled: 'no' }),
  'GET /v1/tokens': '<html>proxy login</html>',
};

let server: Server;
let url: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    const route = `${req.method} ${(req.url ?? '').replace(/\?.*$/, '')}`;
    if (route === 'POST /v1/agent/run') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify({ type: 'teleported', sessionId: 's', seq: 1, ts: 'now' })}\n\n`);
      return;
    }
    const body = answers[route];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(body ?? JSON.stringify({ error: { code: 'not_found', message: `no ${route}` } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('an answer that breaks the contract is one line naming the request and the field, exit 1', async () => {
  const cases: [string[], string, RegExp][] = [
    [['live'], 'GET /v1/live', /generatedAt: .*expected string/],
    [['pending'], 'GET /v1/intents', /the answer: .*expected object/],
    [['gate', 'off'], 'PUT /v1/gates/global', /enabled: .*expected boolean/],
    [['token', 'list', '--json'], 'GET /v1/tokens', /the answer: /],
    [['agent', 'run', 'do it'], 'POST /v1/agent/run', /type: /],
  ];
  for (const [args, request, field] of cases) {
    const run = await handoff(args, { HANDOFF_URL: url, HANDOFF_TOKEN: 'hnd_x' });
    const what = `handoff ${args.join(' ')}`;
    assert.equal(run.code, 1, `${what}: ${run.stderr}`);
    assert.equal(run.stdout, '', `${what} prints nothing of a broken answer`);
    assert.deepEqual(lines(run.stderr).length, 1, `${what}: ${run.stderr}`);
    // under --json the one line is {"error":{"code":"unexpected_answer","message"}}, the message the same words
    const line = args.includes('--json')
      ? (() => {
          const { error } = JSON.parse(run.stderr) as { error: { code: string; message: string } };
          assert.equal(error.code, 'unexpected_answer', what);
          return `handoff: ${error.message}\n`;
        })()
      : run.stderr;
    assert.ok(
      line.startsWith(
        `handoff: the coordinator at ${url} answered ${request} with something this CLI does not understand: `,
      ),
      `${what}: ${run.stderr}`,
    );
    assert.match(line, field, what);
    assert.match(line, /Are the CLI and the coordinator the same version\?\n$/, what);
    assertNoStack(run.stderr);
  }
});
