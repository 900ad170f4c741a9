import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDb, createPool } from '@handoff/db';
import type { Db } from '@handoff/db';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

/**
 * The console in a real browser: Debian's chromium, headless, driven by playwright-core. Sign in,
 * see a pending intent, approve it and watch an executor perform it; the kill switch; the phone
 * layout; a page on another origin trying to approve; a viewer trying to change anything; an
 * expired session. HANDOFF_CONSOLE_SCREENSHOTS=1 writes the screenshots docs/console.md shows.
 */

const CHROMIUM = process.env['HANDOFF_CHROMIUM'] ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`;
const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
const screenshots = process.env['HANDOFF_CONSOLE_SCREENSHOTS'] === '1';

/** What the page functions below touch in the browser (the project's TypeScript has no DOM types). */
interface Dom {
  document: { cookie: string; documentElement: { scrollWidth: number } };
}

describe('the console in a browser', { skip }, () => {
  let stack: Stack;
  let browser: Browser;
  let db: Db;
  let viewer: string;
  let seq = 0;

  const url = (): string => stack.coordinator.url;

  async function intent(channel: string, payload: unknown): Promise<string> {
    const r = await stack.api<{ id: string }>('POST', '/v1/intents', {
      channel,
      payload,
      idempotencyKey: `console-${channel}-${process.pid}-${++seq}`,
      requiresApproval: true,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }

  async function signedIn(
    token: string,
    viewport = { width: 1280, height: 900 },
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${url()}/console/`);
    await page.fill('#token', token);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('#needs');
    return { context, page };
  }

  before(async () => {
    stack = await startStack();
    await stack.spawnExecutor('console-exec');
    const v = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', name: 'console-viewer' });
    assert.equal(v.status, 201);
    viewer = v.body.token;
    db = createDb(createPool(stack.tdb.url, { max: 2 }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await db?.destroy();
    await stack?.close();
  });

  test('an operator signs in with a token, sees a pending intent, approves it and watches it succeed', async () => {
    // what a person reads before approving, per channel (none of these runs: no executor holds them)
    await intent('x', { text: 'Shipping handoff 1.0 today. What changed: https://example.com/release' });
    await intent('email', {
      to: 'team@example.com',
      cc: ['lead@example.com'],
      subject: 'Release notes',
      text: 'Hello team,\n\nthe release is out.\n',
    });
    await intent('calendar', {
      op: 'create',
      summary: 'Release retro',
      start: '2026-12-10T15:00:00Z',
      end: '2026-12-10T15:30:00Z',
    });
    const id = await intent('noop', { note: 'approve me' });

    const { context, page } = await signedIn(stack.token);
    const card = page.locator(`[data-intent="${id}"]`);
    await card.waitFor();
    assert.match(await page.locator('#needs h1').innerText(), /Needs you/);
    assert.match(await page.locator('#pending').innerText(), /by X's weighted count/);
    assert.match(await page.locator('#pending').innerText(), /Release notes/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'handoff_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!cookies.some((c) => c.value.includes(stack.token)), 'the token is not in a cookie');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as Dom).document.cookie),
      '',
      'scripts cannot read the session cookie',
    );
    if (screenshots) await page.screenshot({ path: `${docs}console-desktop.png`, fullPage: false });

    await card.locator('button', { hasText: 'Approve' }).click();
    await card.waitFor({ state: 'detached' });
    await page.goto(`${url()}/console/#/intent/${id}`);
    // the page follows the intent without a reload: approved, running, succeeded
    await page.locator('#content h1', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    assert.match(await page.locator('#content').innerText(), /approve/);
    await context.close();
  });

  test('the kill switch asks for a reason, confirms, and closes the global gate', async () => {
    const { context, page } = await signedIn(stack.token);
    await page.click('#kill-switch');
    await page.waitForSelector('#confirm-dialog[open]');
    // no reason: the dialog stays
    await page.click('#confirm-ok');
    assert.equal(await page.locator('#confirm-dialog[open]').count(), 1);
    await page.fill('#confirm-reason', 'browser test: stop everything');
    await page.click('#confirm-ok');
    await page.locator('#gates .pill', { hasText: 'closed' }).first().waitFor();
    const gates = await stack.api<{ gates: { scope: string; enabled: boolean; reason: string | null }[] }>(
      'GET',
      '/v1/gates',
    );
    const global = gates.body.gates.find((g) => g.scope === 'global');
    assert.equal(global?.enabled, false);
    assert.equal(global?.reason, 'browser test: stop everything');
    await page.locator('[data-need="Closed gates"] .n', { hasText: '1' }).waitFor();
    // and open again
    await page.click('#kill-switch');
    await page.fill('#confirm-reason', 'browser test: done');
    await page.click('#confirm-ok');
    await page.locator('#kill-switch', { hasText: 'Close the global gate' }).waitFor();
    await context.close();
  });

  test('the one-time link signs in once, and the phone layout (390 px) needs no sideways scrolling', async () => {
    await intent('webhook', { url: 'https://example.com/hooks/deploy-finished', method: 'POST', body: { ok: true } });
    const link = await stack.api<{ url: string }>('POST', '/console/api/signin-links');
    assert.equal(link.status, 201);
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await page.goto(link.body.url);
    await page.waitForSelector('#needs');
    assert.ok(!page.url().includes('code='), 'the code leaves the address bar');
    const width = await page.evaluate(() => (globalThis as unknown as Dom).document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width} px wide`);
    if (screenshots) await page.screenshot({ path: `${docs}console-phone.png`, fullPage: false });
    await context.close();

    const again = await browser.newContext();
    const second = await again.newPage();
    await second.goto(link.body.url);
    await second.locator('#sign-in-message', { hasText: 'used already' }).waitFor();
    await again.close();
  });

  test('a page on another origin cannot approve with the operator session', async () => {
    const id = await intent('noop', { note: 'csrf target' });
    const { context, page } = await signedIn(stack.token);
    // 127.0.0.1 on another port is the same *site*, so SameSite lets the cookie go: the Origin and
    // CSRF-token checks are what refuse it
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><body>
        <form id="f" method="POST" action="${url()}/v1/intents/${id}/approve" enctype="text/plain"><input name="x" value="y"></form>
        <script>
          fetch('${url()}/v1/intents/${id}/approve', { method: 'POST', credentials: 'include', mode: 'no-cors' })
            .finally(() => document.getElementById('f').submit());
        </script></body>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilPage = await context.newPage();
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await evilPage.waitForURL(/\/approve$/);
      assert.match(await evilPage.locator('body').innerText(), /forbidden|Origin/);
      // the same with the session's cookie from outside a browser: no Origin, a foreign Origin
      const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
      for (const origin of [undefined, 'http://evil.example']) {
        const res = await fetch(`${url()}/v1/intents/${id}/approve`, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json', ...(origin ? { origin } : {}) },
          body: '{}',
        });
        assert.equal(res.status, 403);
      }
    } finally {
      evil.close();
    }
    const after = await stack.api<{ state: string }>('GET', `/v1/intents/${id}`);
    assert.equal(after.body.state, 'pending_approval');
    await page.close();
    await context.close();
  });

  test('a viewer sees the pending intent and can change nothing', async () => {
    const id = await intent('noop', { note: 'viewer sees me' });
    const { context, page } = await signedIn(viewer);
    const card = page.locator(`[data-intent="${id}"]`);
    await card.waitFor();
    assert.equal(await card.locator('button', { hasText: 'Approve' }).isDisabled(), true);
    assert.equal(await page.locator('#kill-switch').isDisabled(), true);
    // going around the disabled buttons: the API refuses (403), with the right Origin and CSRF token
    const status = await page.evaluate(async (intentId) => {
      const me = (await (await fetch('/console/api/session')).json()) as { csrfToken: string };
      const res = await fetch(`/v1/intents/${intentId}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: '{}',
      });
      const gate = await fetch('/v1/gates/global', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ enabled: false, reason: 'viewer' }),
      });
      return [res.status, gate.status];
    }, id);
    assert.deepEqual(status, [403, 403]);
    assert.equal((await stack.api<{ state: string }>('GET', `/v1/intents/${id}`)).body.state, 'pending_approval');
    await context.close();
  });

  test('an expired session is refused and the page asks to sign in again', async () => {
    const { context, page } = await signedIn(stack.token);
    await sql`UPDATE console_sessions SET expires_at = now() - interval '1 second'`.execute(db);
    await page.reload();
    await page.waitForSelector('#sign-in-view:not([hidden])');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    assert.equal((await fetch(`${url()}/v1/live`, { headers: { cookie } })).status, 401);
    await context.close();
  });
});
