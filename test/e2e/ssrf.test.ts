import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Policy, type IntentDetail, type PolicyInput } from '@handoff/contracts';
import {
  PermanentError,
  WebhookPayload,
  createDeployConnector,
  createWebhookConnector,
  internalAddressReason,
  type ConnectorContext,
  type Resolve,
} from '@handoff/connectors';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';

/**
 * No SSRF by default: webhook and deploy calls may not reach loopback, private, link-local or
 * unique-local addresses, the coordinator or Postgres, unless policy webhook.allowedHosts names
 * them; the check is made on the address actually connected to.
 */

const silent = pino({ level: 'silent' });
const ctx = (policy: PolicyInput): ConnectorContext => ({
  signal: new AbortController().signal,
  log: silent,
  credentials: undefined,
  policy: Policy.parse(policy),
});
const hook = (url: string) => ({
  id: randomUUID(),
  channel: 'webhook',
  account: 'default',
  idempotencyKey: randomUUID(),
  payload: WebhookPayload.parse({ url, body: {} }),
  createdAt: new Date(),
  attemptNo: 1,
});

describe('internal addresses', () => {
  test('every loopback, private, CGNAT, link-local, unique-local, unspecified and multicast form is internal, IPv4-mapped ones too', () => {
    const internal = [
      '127.0.0.1',
      '127.8.9.10',
      '0.0.0.0',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '100.127.255.254',
      '169.254.169.254',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      'fe80::1',
      'febf::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
      '0:0:0:0:0:ffff:7f00:0001',
      '64:ff9b::7f00:1',
      '2002:7f00:1::1',
      '::127.0.0.1',
      '[::1]',
    ];
    for (const address of internal) assert.ok(internalAddressReason(address), `${address} should be internal`);
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '100.128.0.1',
      '172.32.0.1',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
    ]) {
      assert.equal(internalAddressReason(address), undefined, `${address} should be public`);
    }
  });
});

describe('the connect-time check', () => {
  let sink: RecordingSink;
  before(async () => {
    sink = await startRecordingSink();
  });
  after(async () => {
    await sink.close();
  });

  test('a name that answered a public address before and loopback now (DNS rebinding) is refused at connect', async () => {
    let answers = 0;
    // First answer public (what a check made ahead of the call would see), then loopback.
    const rebinding: Resolve = (_name, cb) =>
      cb(null, [{ address: answers++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }]);
    const webhook = createWebhookConnector({ resolve: rebinding });
    try {
      // the ahead-of-time look a naive validator would make
      await new Promise<void>((resolve) =>
        rebinding('rebind.test', (_e, a) => (assert.equal(a[0]!.address, '93.184.216.34'), resolve())),
      );
      const err = await webhook.execute(hook(`http://rebind.test:${sink.port}/x`), ctx({})).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof PermanentError, String(err));
      assert.match(err.message, /rebind\.test \(127\.0\.0\.1\) is a loopback/);
      assert.equal(answers, 2, 'resolved again at connect');
      // a name answering one public and one internal address is refused too
      const mixed: Resolve = (_n, cb) =>
        cb(null, [
          { address: '93.184.216.34', family: 4 },
          { address: '::1', family: 6 },
        ]);
      const w2 = createWebhookConnector({ resolve: mixed });
      await assert.rejects(w2.execute(hook(`http://mixed.test:${sink.port}/x`), ctx({})), /mixed\.test \(::1\)/);
      await w2.close();
      assert.equal(sink.requests.length, 0);
      // named in allowedHosts, the same name goes through (to loopback, where the sink is)
      await webhook.execute(
        hook(`http://rebind.test:${sink.port}/x`),
        ctx({ webhook: { allowedHosts: ['rebind.test'] } }),
      );
      assert.equal(sink.requests.length, 1);
    } finally {
      await webhook.close();
    }
  });

  test('a redirect to an internal address is not followed', async () => {
    const webhook = createWebhookConnector();
    sink.reset();
    sink.respondWith({ status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } });
    try {
      await assert.rejects(
        webhook.execute(hook(`${sink.url}/r`), ctx({ webhook: { allowedHosts: ['127.0.0.1'] } })),
        /answered 302 \(redirects are not followed\)/,
      );
      assert.equal(sink.requests.length, 1);
    } finally {
      sink.respondWith(null);
      await webhook.close();
    }
  });

  test('deploy: a webhook kind and a GitHub apiBaseUrl on loopback are refused unless allowedHosts names them', async () => {
    const deploy = createDeployConnector();
    sink.reset();
    try {
      const intent = (payload: unknown) => ({ ...hook(sink.url), channel: 'deploy', payload: payload as never });
      await assert.rejects(deploy.execute(intent({ kind: 'webhook', url: `${sink.url}/d` }), ctx({})), /loopback/);
      const gh = { ...ctx({}), credentials: { token: 'ghp_not-a-real-token-0123456789', apiBaseUrl: sink.url } };
      await assert.rejects(
        deploy.execute(intent({ kind: 'github', owner: 'o', repo: 'r', ref: 'main' }), gh),
        /loopback/,
      );
      assert.equal(sink.requests.length, 0);
      await deploy.execute(
        intent({ kind: 'webhook', url: `${sink.url}/d` }),
        ctx({ webhook: { allowedHosts: [`127.0.0.1:${sink.port}`] } }),
      );
      assert.equal(sink.requests.length, 1);
    } finally {
      await deploy.close();
    }
  });
});

describe('through the real executor', () => {
  let sink: RecordingSink;
  let stack: Stack;
  const policy = (allowedHosts: string[]): PolicyInput => ({
    approval: {
      rules: [
        { channel: 'webhook', requireApproval: false },
        { channel: 'deploy', requireApproval: false },
      ],
    },
    webhook: { allowedHosts },
  });
  before(async () => {
    sink = await startRecordingSink();
    stack = await startStack({ policy: policy([]) });
    const secrets = join(stack.home, 'secrets.json');
    writeFileSync(secrets, JSON.stringify({ deploy: { hooks: {} } }));
    chmodSync(secrets, 0o600);
  });
  after(async () => {
    await stack.close();
    await sink.close();
  });

  const create = async (channel: string, payload: unknown): Promise<string> => {
    const res = await stack.api<{ id: string }>('POST', '/v1/intents', {
      channel,
      account: channel === 'deploy' ? 'hooks' : 'default',
      idempotencyKey: randomUUID(),
      payload,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  };
  const settled = (id: string): Promise<IntentDetail> =>
    waitFor(`intent ${id} to settle`, async () => {
      const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${id}`)).body;
      return ['succeeded', 'dead', 'in_doubt'].includes(d.state) ? d : null;
    });

  test('calls to 127.0.0.1, localhost, a mapped address and the coordinator itself die refused; named in allowedHosts, they go through, but the coordinator and Postgres only by their exact port', async () => {
    const coordinator = new URL(stack.coordinator.url);
    const localhost = (await lookup('localhost')).address;
    const exec = await stack.spawnExecutor('ssrf-1');
    const targets = [
      ['webhook', { url: `${sink.url}/plain`, body: {} }],
      ['webhook', { url: `http://localhost:${sink.port}/name`, body: {} }],
      ['webhook', { url: `http://[::ffff:127.0.0.1]:${sink.port}/mapped`, body: {} }],
      [
        'webhook',
        {
          url: `${stack.coordinator.url}/v1/intents`,
          body: { channel: 'noop', account: 'a', idempotencyKey: 'k', payload: {} },
        },
      ],
      ['deploy', { kind: 'webhook', url: `${sink.url}/deploy`, statusUrl: `${sink.url}/status` }],
    ] as const;
    const ids = await Promise.all(targets.map(([channel, payload]) => create(channel, payload)));
    for (const id of ids) {
      const d = await settled(id);
      assert.equal(d.state, 'dead', JSON.stringify(d));
      assert.match(d.lastError ?? '', /refused unless policy webhook\.allowedHosts names/);
    }
    assert.equal(sink.requests.length, 0, 'nothing reached the receiver');

    exec.signal('SIGTERM');
    await exec.exited;
    // 127.0.0.1 named without a port: the receiver opens, the coordinator's and Postgres's ports do not
    writeFileSync(join(stack.home, 'policy.json'), JSON.stringify(policy(['127.0.0.1', `localhost:${sink.port}`])));
    await stack.spawnExecutor('ssrf-2');
    const allowed = await settled(await create('webhook', { url: `${sink.url}/plain`, body: {} }));
    assert.equal(allowed.state, 'succeeded', JSON.stringify(allowed));
    if (localhost === '127.0.0.1')
      assert.equal(
        (await settled(await create('webhook', { url: `http://localhost:${sink.port}/name`, body: {} }))).state,
        'succeeded',
      );
    const self = await settled(
      await create('webhook', { url: `http://127.0.0.1:${coordinator.port}/healthz`, body: {} }),
    );
    assert.equal(self.state, 'dead');
    assert.match(
      self.lastError ?? '',
      /coordinator's own port; calls to it are refused unless policy webhook\.allowedHosts names "127\.0\.0\.1:\d+"/,
    );
    const pg = new URL(stack.tdb.url);
    const postgres = await settled(
      await create('webhook', { url: `http://${pg.hostname}:${pg.port || 5432}/`, body: {} }),
    );
    assert.equal(postgres.state, 'dead');
    assert.match(postgres.lastError ?? '', /Postgres/);
  });
});
