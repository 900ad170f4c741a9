/* global document, window, fetch, location, history, setInterval, clearTimeout, setTimeout */
/*
 * The handoff console: plain JS, no build step. It talks to the /v1 API with the session cookie (never a
 * token: the token is exchanged once at sign-in), sends the session's CSRF token on every request that
 * changes something, and builds the page with textContent only, so nothing from an intent's payload is
 * ever read as markup. It polls every few seconds; relative times tick every second.
 */
'use strict';

const POLL_MS = 3000;
const state = {
  session: null, // {role, name, actor, csrfToken, expiresAt}
  live: null,
  pending: null,
  commands: null,
  sessions: null,
  fetchedAt: 0,
  selected: new Set(),
  reasons: new Map(),
  flash: null,
  pollTimer: null,
};

// ---------- small helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const isOperator = () => state.session && state.session.role === 'operator';
const short = (id) => String(id).slice(0, 8);

/** "3 s ago", "5 min ago", "in 2 h"; the element keeps ticking (see tick()). */
function ago(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString(), 'data-rel': iso }, relative(iso));
}
function relative(iso) {
  const diff = Date.now() - Date.parse(iso);
  const s = Math.round(Math.abs(diff) / 1000);
  const text =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.round(s / 60)} min`
        : s < 86400
          ? `${Math.round(s / 3600)} h`
          : `${Math.round(s / 86400)} d`;
  return diff >= -1000 ? `${text} ago` : `in ${text}`;
}
function tick() {
  for (const el of document.querySelectorAll('[data-rel]')) el.textContent = relative(el.getAttribute('data-rel'));
  const updated = document.getElementById('updated');
  if (state.fetchedAt) updated.textContent = `updated ${relative(new Date(state.fetchedAt).toISOString())}`;
}

function kv(pairs) {
  const dl = h('dl', { class: 'kv' });
  for (const [k, v, cls] of pairs) {
    if (v === undefined) continue;
    dl.append(h('dt', {}, k), h('dd', { class: cls }, v === null ? h('span', { class: 'muted' }, '-') : v));
  }
  return dl;
}
const pill = (text, cls) => h('span', { class: `pill ${cls || ''}` }, text);
const pre = (text, cls) => h('pre', { class: cls }, text);
const json = (v) => JSON.stringify(v, null, 2);

function section(id, title, count, ...body) {
  return h(
    'section',
    { id },
    h('h2', {}, title, count === undefined ? '' : h('span', { class: 'muted' }, ` (${count})`)),
    ...body,
  );
}
const cards = (items, render, empty) =>
  items.length === 0 ? h('p', { class: 'empty' }, empty || 'none') : h('div', { class: 'cards' }, items.map(render));

function setFlash(text, cls) {
  state.flash = text ? { text, cls } : null;
  const el = document.getElementById('flash');
  el.textContent = text || '';
  el.className = `message ${cls || ''}`;
}

// ---------- the API ----------

class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') {
    if (state.session) headers['x-csrf-token'] = state.session.csrfToken;
    if (body !== undefined) headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null; // not JSON (a proxy's page): the status says what happened
  }
  if (!res.ok) {
    if (res.status === 401 && state.session)
      signedOut('Your session has ended (expired, signed out, or the token was revoked). Sign in again.');
    throw new ApiFailure(res.status, parsed);
  }
  return parsed;
}
const optional = (p) => p.catch(() => null);

// ---------- sign in / out ----------

function show(view) {
  document.getElementById('sign-in-view').hidden = view !== 'sign-in';
  document.getElementById('app-view').hidden = view !== 'app';
  document.getElementById('sign-out').hidden = view !== 'app';
}

function signedOut(message) {
  state.session = null;
  clearTimeout(state.pollTimer);
  document.getElementById('who').textContent = '';
  document.getElementById('updated').textContent = '';
  const msg = document.getElementById('sign-in-message');
  msg.textContent = message || '';
  msg.className = 'message bad';
  show('sign-in');
}

async function signIn(body) {
  const msg = document.getElementById('sign-in-message');
  try {
    state.session = await api('POST', '/console/api/session', body);
    msg.textContent = '';
    await enter();
  } catch (err) {
    msg.textContent = err.message;
    msg.className = 'message bad';
    show('sign-in');
  }
}

async function enter() {
  const s = state.session;
  document.getElementById('who').textContent = `${s.name || s.actor} (${s.role})`;
  show('app');
  await refresh();
  await route();
}

// ---------- data ----------

async function refresh() {
  clearTimeout(state.pollTimer);
  try {
    const [live, pending, commands, sessions] = await Promise.all([
      api('GET', '/v1/live'),
      api('GET', '/console/api/pending'),
      optional(api('GET', '/v1/agent/approvals?state=pending&limit=100')),
      optional(api('GET', '/v1/agent/sessions?limit=20')),
    ]);
    Object.assign(state, { live, pending, commands, sessions, fetchedAt: Date.now() });
    if ((location.hash || '#/').startsWith('#/intent/')) await route(true);
    else render();
  } catch (err) {
    if (!state.session) return;
    setFlash(`Could not refresh: ${err.message}`, 'bad');
  }
  if (state.session) state.pollTimer = setTimeout(refresh, POLL_MS);
}

/** What needs a person, with a colour each; green only when every count is zero. */
function needs() {
  const live = state.live;
  const pendingCommands = state.commands ? state.commands.approvals.length : 0;
  return [
    ['Pending approvals', state.pending.total, 'warn', '#pending'],
    ['In doubt', live.inDoubt.length, 'bad', '#stuck'],
    ['Dead', live.dead.length, 'bad', '#stuck'],
    ['Open breakers', live.breakers.filter((b) => b.state !== 'closed').length, 'bad', '#breakers'],
    ['Stale executors', live.executors.filter((e) => e.stale).length, 'bad', '#executors'],
    ['Closed gates', live.gatesClosed.length, 'bad', '#gates'],
    ['Quarantined model nodes', (live.modelNodes || []).filter((n) => n.state !== 'healthy').length, 'bad', '#nodes'],
    ['Waiting command approvals', pendingCommands, 'warn', '#commands'],
  ];
}

// ---------- actions ----------

async function act(label, fn) {
  try {
    await fn();
    setFlash(label, 'ok');
  } catch (err) {
    setFlash(`${label} failed: ${err.message}`, 'bad');
  }
  await refresh();
}

function askReason({ title, text, ok, danger }) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const okButton = document.getElementById('confirm-ok');
  okButton.textContent = ok;
  okButton.className = danger ? 'danger' : 'primary';
  const reason = document.getElementById('confirm-reason');
  reason.value = '';
  return new Promise((resolve) => {
    const form = document.getElementById('confirm-form');
    const done = (value) => {
      form.onsubmit = null;
      document.getElementById('confirm-cancel').onclick = null;
      dialog.close();
      resolve(value);
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      if (reason.value.trim() === '') return reason.focus();
      done(reason.value.trim());
    };
    document.getElementById('confirm-cancel').onclick = () => done(null);
    dialog.showModal();
    reason.focus();
  });
}

async function setGate(scope, open) {
  const reason = await askReason({
    title: open ? `Open the gate ${scope}?` : `Close the gate ${scope}?`,
    text: open
      ? 'Intents under it may start again; what it held is woken up.'
      : 'No new effect under it starts until it is opened again. Effects already running finish.',
    ok: open ? `Open ${scope}` : `Close ${scope}`,
    danger: !open,
  });
  if (reason === null) return;
  const gate = state.live.gates.find((g) => g.scope === scope);
  // the gate speaks open/closed; a coordinator that predates `state` still reads `enabled`
  const body = gate && 'state' in gate ? { state: open ? 'open' : 'closed', reason } : { enabled: open, reason };
  await act(`Gate ${scope} ${open ? 'opened' : 'closed'}`, () =>
    api('PUT', `/v1/gates/${encodeURIComponent(scope)}`, body),
  );
}

async function decide(ids, decision, reason) {
  const failures = [];
  for (const id of ids) {
    try {
      await api(
        'POST',
        `/v1/intents/${id}/${decision}`,
        reason ? { reason } : decision === 'approve' ? {} : { reason },
      );
      state.selected.delete(id);
      state.reasons.delete(id);
    } catch (err) {
      failures.push(`${short(id)}: ${err.message}`);
    }
  }
  const done = ids.length - failures.length;
  setFlash(
    `${decision === 'approve' ? 'Approved' : 'Rejected'} ${done} of ${ids.length}` +
      (failures.length ? `. ${failures.join('; ')}` : ''),
    failures.length ? 'bad' : 'ok',
  );
  await refresh();
}

// ---------- pending approvals, per channel ----------

function previewOf(p) {
  const v = p.preview;
  switch (v.kind) {
    case 'x': {
      const over = v.weightedLength > v.maxLength;
      return h(
        'div',
        {},
        pre(v.text, 'text'),
        h(
          'p',
          { class: `weighted${over ? ' over' : ''}` },
          `${v.weightedLength} / ${v.maxLength} by X's weighted count`,
        ),
      );
    }
    case 'email':
      return h(
        'div',
        {},
        kv([
          ['From', v.from || `account ${p.account} (set on the executor)`],
          ['To', v.to.join(', ')],
          ['Cc', v.cc.length ? v.cc.join(', ') : undefined],
          ['Bcc', v.bcc.length ? v.bcc.join(', ') : undefined],
          ['Subject', v.subject, 'wrap'],
        ]),
        v.bodyIsHtml ? h('p', { class: 'muted' }, 'HTML body (shown as source):') : null,
        pre(v.body, v.bodyIsHtml ? '' : 'text'),
      );
    case 'calendar': {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
      const when = (iso) => (iso ? fmt.format(new Date(iso)) : null);
      return kv([
        ['Event', `${v.op}${v.summary ? `: ${v.summary}` : ''}`, 'wrap'],
        ['Starts', when(v.start), 'wrap'],
        ['Ends', when(v.end), 'wrap'],
        ['Your zone', zone],
        ['Event zone', v.timezone || undefined],
        ['Where', v.location || undefined, 'wrap'],
        ['Attendees', v.attendees.length ? v.attendees.join(', ') : undefined, 'wrap'],
      ]);
    }
    case 'webhook':
      return h(
        'div',
        {},
        kv([['Request', `${v.method} ${v.url}`]]),
        v.body === null ? h('p', { class: 'muted' }, 'no body') : pre(v.body),
      );
    case 'deploy':
      return kv([
        ['Deploy', v.target],
        ['Ref', v.ref],
        ['Environment', v.environment],
        ['Description', v.description || undefined, 'wrap'],
      ]);
    default:
      return pre(json(p.payload));
  }
}

function pendingCard(p) {
  const operator = isOperator();
  const reasonInput = h('input', {
    type: 'text',
    placeholder: 'reason (needed to reject)',
    value: state.reasons.get(p.id) || '',
    'aria-label': `reason for ${short(p.id)}`,
    oninput: (e) => state.reasons.set(p.id, e.target.value),
    disabled: !operator,
  });
  const reason = () => reasonInput.value.trim();
  return h(
    'article',
    { class: 'card warn', 'data-intent': p.id },
    h(
      'label',
      { class: 'select' },
      h('input', {
        type: 'checkbox',
        checked: state.selected.has(p.id),
        disabled: !operator,
        onchange: (e) => {
          if (e.target.checked) state.selected.add(p.id);
          else state.selected.delete(p.id);
          renderBulk();
        },
      }),
      h('span', {}, `${p.channel}:${p.account}`),
    ),
    previewOf(p),
    kv([
      ['Intent', h('a', { href: `#/intent/${p.id}` }, short(p.id))],
      ['Key', h('span', { class: 'mono' }, p.idempotencyKey)],
      ['By', p.createdBy],
      ['Asked', ago(p.createdAt)],
    ]),
    p.preview.kind === 'other' ? null : h('details', {}, h('summary', {}, 'payload as sent'), pre(json(p.payload))),
    h(
      'div',
      { class: 'actions' },
      reasonInput,
      h(
        'button',
        { class: 'primary', disabled: !operator, onclick: () => decide([p.id], 'approve', reason()) },
        'Approve',
      ),
      h(
        'button',
        {
          disabled: !operator,
          onclick: () =>
            reason()
              ? decide([p.id], 'reject', reason())
              : (reasonInput.focus(), setFlash('A rejection needs a reason.', 'bad')),
        },
        'Reject',
      ),
    ),
  );
}

function renderBulk() {
  const bar = document.getElementById('bulk');
  if (!bar) return;
  const n = state.selected.size;
  bar.hidden = n === 0;
  bar.querySelector('[data-count]').textContent = `${n} selected`;
}

function bulkBar() {
  const reasonInput = h('input', {
    type: 'text',
    placeholder: 'reason for all selected (needed to reject)',
    'aria-label': 'reason for all selected',
  });
  return h(
    'div',
    { class: 'bulk actions', id: 'bulk', hidden: state.selected.size === 0 },
    h('strong', { 'data-count': true }, `${state.selected.size} selected`),
    reasonInput,
    h(
      'button',
      { class: 'primary', onclick: () => decide([...state.selected], 'approve', reasonInput.value.trim()) },
      'Approve selected',
    ),
    h(
      'button',
      {
        onclick: () =>
          reasonInput.value.trim()
            ? decide([...state.selected], 'reject', reasonInput.value.trim())
            : setFlash('A rejection needs a reason.', 'bad'),
      },
      'Reject selected',
    ),
  );
}

// ---------- the overview ----------

function overview() {
  const live = state.live;
  const items = needs();
  const total = items.reduce((n, [, c]) => n + c, 0);
  const pending = state.pending;
  const pendingIds = new Set(pending.approvals.map((p) => p.id));
  for (const id of state.selected) if (!pendingIds.has(id)) state.selected.delete(id);

  const stuck = [
    ...live.inDoubt.map((d) => ({ ...d, state: 'in_doubt' })),
    ...live.dead.map((d) => ({ ...d, state: 'dead' })),
  ];
  const commands = state.commands ? state.commands.approvals : [];
  const operator = isOperator();
  const global = live.gates.find((g) => g.scope === 'global');
  const globalOpen = !live.gatesClosed.includes('global');

  return [
    h(
      'section',
      { id: 'needs', class: `needs ${total > 0 ? 'attention' : ''}` },
      h('h1', {}, total > 0 ? `Needs you: ${total}` : 'Nothing needs you'),
      h(
        'div',
        { class: 'tiles' },
        items.map(([label, n, cls, href]) =>
          h(
            'a',
            { class: `tile ${n > 0 ? cls : 'zero'}`, href, 'data-need': label },
            h('span', { class: 'n' }, String(n)),
            label,
          ),
        ),
      ),
      live.agent && live.agent.warning
        ? h('p', { class: 'message bad' }, `Agent sandbox: ${live.agent.warning}`)
        : null,
    ),
    section(
      'pending',
      'Pending approvals',
      pending.total,
      pending.total > pending.approvals.length
        ? h('p', { class: 'muted' }, `showing the oldest ${pending.approvals.length}`)
        : null,
      operator
        ? bulkBar()
        : h('p', { class: 'muted' }, 'You are signed in as a viewer: you can see everything and change nothing.'),
      cards(pending.approvals, pendingCard, 'nothing waits for approval'),
    ),
    section(
      'stuck',
      'In doubt and dead',
      stuck.length,
      cards(stuck, (d) =>
        h(
          'article',
          { class: 'card bad' },
          h(
            'h3',
            {},
            pill(d.state === 'in_doubt' ? 'in doubt' : 'dead', 'bad'),
            ' ',
            h('a', { href: `#/intent/${d.id}` }, `${d.channel}:${d.account} ${short(d.id)}`),
          ),
          kv([
            ['Key', h('span', { class: 'mono' }, d.idempotencyKey)],
            ['Error', d.lastError, 'wrap'],
            ['Since', ago(d.updatedAt)],
          ]),
          h('a', { href: `#/intent/${d.id}` }, d.state === 'in_doubt' ? 'Resolve or retry' : 'Retry'),
        ),
      ),
    ),
    section(
      'commands',
      'Command approvals (agent)',
      commands.length,
      state.commands === null ? h('p', { class: 'muted' }, 'no agent runs in this coordinator') : null,
      cards(
        commands,
        (c) => {
          const reason = h('input', { type: 'text', placeholder: 'reason (needed to reject)', disabled: !operator });
          return h(
            'article',
            { class: 'card warn' },
            pre(c.command),
            kv([
              ['In', h('span', { class: 'mono' }, c.cwd)],
              ['Rule', c.rule],
              ['Why asked', c.reason, 'wrap'],
              ['Session', h('span', { class: 'mono' }, short(c.sessionId))],
              ['Asked', ago(c.requestedAt)],
              ['Expires', ago(c.expiresAt)],
            ]),
            h(
              'div',
              { class: 'actions' },
              reason,
              h(
                'button',
                {
                  class: 'primary',
                  disabled: !operator,
                  onclick: () =>
                    act('Command approved', () =>
                      api(
                        'POST',
                        `/v1/agent/approvals/${c.id}/approve`,
                        reason.value.trim() ? { reason: reason.value.trim() } : {},
                      ),
                    ),
                },
                'Approve',
              ),
              h(
                'button',
                {
                  disabled: !operator,
                  onclick: () =>
                    reason.value.trim()
                      ? act('Command rejected', () =>
                          api('POST', `/v1/agent/approvals/${c.id}/reject`, { reason: reason.value.trim() }),
                        )
                      : setFlash('A rejection needs a reason.', 'bad'),
                },
                'Reject',
              ),
            ),
          );
        },
        'no command waits',
      ),
    ),
    section(
      'gates',
      'Gates',
      live.gates.length,
      h(
        'div',
        { class: 'card ' + (globalOpen ? 'ok' : 'bad') },
        h(
          'h3',
          {},
          'Kill switch: the global gate is ',
          pill(globalOpen ? 'open' : 'closed', globalOpen ? 'ok' : 'bad'),
        ),
        global && global.reason ? h('p', { class: 'explain' }, `Reason: ${global.reason}`) : null,
        h(
          'p',
          { class: 'explain' },
          'Closing it stops every new effect on every channel; effects already running finish.',
        ),
        h(
          'button',
          {
            id: 'kill-switch',
            class: globalOpen ? 'danger' : 'primary',
            disabled: !operator,
            onclick: () => setGate('global', !globalOpen),
          },
          globalOpen ? 'Close the global gate' : 'Open the global gate',
        ),
      ),
      h('p', {}),
      cards(
        live.gates.filter((g) => g.scope !== 'global'),
        (g) => {
          const open = !live.gatesClosed.includes(g.scope);
          return h(
            'article',
            { class: `card ${open ? 'ok' : 'bad'}` },
            h('h3', {}, g.scope, ' ', pill(open ? 'open' : 'closed', open ? 'ok' : 'bad')),
            kv([
              ['Reason', g.reason, 'wrap'],
              ['By', g.updatedBy],
              ['Changed', ago(g.updatedAt)],
            ]),
            h('button', { disabled: !operator, onclick: () => setGate(g.scope, !open) }, open ? 'Close' : 'Open'),
          );
        },
        'no other gates (every channel open)',
      ),
    ),
    section(
      'executors',
      'Executors',
      live.executors.length,
      cards(live.executors, (e) =>
        h(
          'article',
          { class: `card ${e.stale ? 'bad' : 'ok'}` },
          h('h3', {}, h('span', { class: 'mono' }, e.id), ' ', e.stale ? pill('stale', 'bad') : pill(e.status, 'ok')),
          kv([
            ['Heartbeat', ago(e.heartbeatAt)],
            ['Host', `${e.host} pid ${e.pid}`],
            ['Channels', e.channels.join(', ') || null, 'wrap'],
            ['Local gate', e.localGateEnabled ? 'open' : 'closed'],
            ['In flight', String(e.inFlight)],
            ['Started', ago(e.startedAt)],
          ]),
        ),
      ),
    ),
    section(
      'breakers',
      'Breakers',
      live.breakers.length,
      cards(live.breakers, (b) =>
        h(
          'article',
          { class: `card ${b.state === 'closed' ? 'ok' : b.state === 'open' ? 'bad' : 'warn'}` },
          h(
            'h3',
            {},
            h('span', { class: 'mono' }, b.key),
            ' ',
            pill(b.state.replace('_', ' '), b.state === 'closed' ? 'ok' : 'bad'),
          ),
          kv([
            ['Executor', b.executorId],
            ['Failures', String(b.failures)],
            ['Opened', b.openedAt ? ago(b.openedAt) : null],
          ]),
        ),
      ),
    ),
    section(
      'limits',
      'Rate-limit headroom',
      live.rateLimits.length,
      cards(live.rateLimits, (l) =>
        h(
          'article',
          { class: `card ${l.blockedUntil ? 'bad' : l.tokens < 1 ? 'warn' : 'ok'}` },
          h('h3', {}, h('span', { class: 'mono' }, l.key)),
          kv([
            ['Headroom', `${l.tokens.toFixed(1)} of ${l.capacity}`],
            ['Refill', `${l.refillPerSecond}/s`],
            ['Blocked until', l.blockedUntil ? ago(l.blockedUntil) : undefined],
          ]),
        ),
      ),
    ),
    section(
      'queues',
      'Queues',
      live.queues.length,
      cards(live.queues, (q) =>
        h(
          'article',
          { class: 'card' },
          h('h3', {}, q.channel),
          kv([
            ['Pending approval', String(q.pendingApproval)],
            ['Ready', String(q.ready)],
            ['Scheduled', String(q.scheduled)],
            ['Running', String(q.running)],
          ]),
        ),
      ),
    ),
    section(
      'inflight',
      'In flight',
      live.inFlight.length,
      cards(live.inFlight, (i) =>
        h(
          'article',
          { class: 'card' },
          h('h3', {}, h('a', { href: `#/intent/${i.id}` }, `${i.channel}:${i.account} ${short(i.id)}`)),
          kv([
            ['Key', h('span', { class: 'mono' }, i.idempotencyKey)],
            ['Executor', i.leaseOwner],
            ['Lease ends', i.leaseExpiresAt ? ago(i.leaseExpiresAt) : null],
            ['Attempts', String(i.attemptCount)],
          ]),
        ),
      ),
    ),
    section(
      'receipts',
      'Recent receipts',
      live.recentReceipts.length,
      cards(live.recentReceipts, (r) =>
        h(
          'article',
          { class: `card ${r.kind === 'success' ? 'ok' : 'bad'}` },
          h(
            'h3',
            {},
            pill(r.kind, r.kind === 'success' ? 'ok' : 'bad'),
            ' ',
            h('a', { href: `#/intent/${r.intentId}` }, `${r.channel}:${r.account}`),
          ),
          kv([
            ['When', ago(r.createdAt)],
            ['Key', h('span', { class: 'mono' }, r.idempotencyKey)],
            ['Source', r.source],
            ['External id', r.externalId],
            r.kind === 'success'
              ? ['URL', r.url]
              : ['Error', [r.errorClass, r.errorMessage].filter(Boolean).join(': '), 'wrap'],
          ]),
        ),
      ),
    ),
    section(
      'nodes',
      'Model nodes',
      (live.modelNodes || []).length,
      cards(live.modelNodes || [], (n) =>
        h(
          'article',
          { class: `card ${n.state === 'healthy' ? 'ok' : 'bad'}` },
          h('h3', {}, h('span', { class: 'mono' }, n.id), ' ', pill(n.state, n.state === 'healthy' ? 'ok' : 'bad')),
          kv([
            ['Kind', n.kind],
            ['Models', n.models.join(', '), 'wrap'],
            ['Breaker', n.breaker.replace('_', ' ')],
            ['Latency', n.latencyMs === null ? null : `${n.latencyMs} ms`],
            ['Last error', n.lastError, 'wrap'],
            ['Last probe', n.lastProbeAt ? ago(n.lastProbeAt) : null],
          ]),
        ),
      ),
    ),
    agentSessions(),
  ];
}

function agentSessions() {
  const list = state.sessions && (state.sessions.sessions || state.sessions.items);
  if (!Array.isArray(list))
    return section(
      'sessions',
      'Agent sessions',
      undefined,
      h('p', { class: 'muted' }, 'not available from this coordinator'),
    );
  return section(
    'sessions',
    'Agent sessions',
    list.length,
    cards(list, (s) =>
      h(
        'article',
        { class: 'card' },
        h('h3', {}, h('span', { class: 'mono' }, short(s.id || s.sessionId)), ' ', pill(s.state || '?')),
        kv([
          ['Task', s.task || null, 'wrap'],
          ['Model', s.model || null],
          ['Turns', s.turns === undefined ? undefined : String(s.turns)],
          ['Started', s.startedAt ? ago(s.startedAt) : undefined],
        ]),
      ),
    ),
  );
}

// ---------- one intent ----------

const MEANS = {
  resolve:
    'Resolve: you checked at the provider and the effect DID happen. The intent becomes succeeded with a receipt naming what you found; nothing is sent again.',
  retry:
    'Retry: the effect did NOT happen (or you accept it happening twice). The intent is approved again with a fresh attempt budget and an executor performs it.',
};

async function intentPage(id) {
  const [intent, audit] = await Promise.all([
    api('GET', `/v1/intents/${encodeURIComponent(id)}`),
    optional(api('GET', `/v1/audit?target=${encodeURIComponent(id)}&limit=100`)),
  ]);
  const operator = isOperator();
  const stateCls =
    { succeeded: 'ok', dead: 'bad', in_doubt: 'bad', rejected: 'bad', expired: 'bad', pending_approval: 'warn' }[
      intent.state
    ] || '';
  const parts = [
    h('p', {}, h('a', { href: '#/' }, '< back to the overview')),
    h('h1', {}, `${intent.channel}:${intent.account} `, pill(intent.state.replace('_', ' '), stateCls)),
    kv([
      ['Intent', h('span', { class: 'mono' }, intent.id)],
      ['Key', h('span', { class: 'mono' }, intent.idempotencyKey)],
      ['By', intent.createdBy],
      ['Created', ago(intent.createdAt)],
      ['Updated', ago(intent.updatedAt)],
      ['Attempts', `${intent.attemptCount} of ${intent.maxAttempts}`],
      ['State reason', intent.stateReason, 'wrap'],
      ['Last error', intent.lastError, 'wrap'],
    ]),
  ];
  if (Array.isArray(intent.heldBy) && intent.heldBy.length > 0) {
    parts.push(
      h(
        'p',
        { class: 'message' },
        'Held back by: ' +
          intent.heldBy.map((x) => `${x.kind} ${x.scope}${x.reason ? ` (${x.reason})` : ''}`).join(', '),
      ),
    );
  }
  if (operator && intent.state === 'pending_approval') {
    const reason = h('input', { type: 'text', placeholder: 'reason (needed to reject)' });
    parts.push(
      h(
        'div',
        { class: 'actions' },
        reason,
        h(
          'button',
          { class: 'primary', onclick: () => decide([intent.id], 'approve', reason.value.trim()).then(route) },
          'Approve',
        ),
        h(
          'button',
          {
            onclick: () =>
              reason.value.trim()
                ? decide([intent.id], 'reject', reason.value.trim()).then(route)
                : setFlash('A rejection needs a reason.', 'bad'),
          },
          'Reject',
        ),
      ),
    );
  }
  if (operator && (intent.state === 'in_doubt' || intent.state === 'dead')) {
    const ext = h('input', {
      type: 'text',
      placeholder: 'id at the provider (e.g. the tweet id)',
      'aria-label': 'external id',
    });
    const url = h('input', { type: 'text', placeholder: 'URL at the provider (optional)', 'aria-label': 'url' });
    const why = h('input', { type: 'text', placeholder: 'reason', 'aria-label': 'reason' });
    const box = h(
      'div',
      { class: 'card bad' },
      h('h3', {}, intent.state === 'in_doubt' ? 'In doubt: did the effect happen?' : 'Dead'),
    );
    if (intent.state === 'in_doubt') {
      box.append(
        h('p', { class: 'explain' }, MEANS.resolve),
        h('div', { class: 'actions' }, ext, url),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              class: 'primary',
              onclick: () =>
                ext.value.trim()
                  ? act('Resolved', () =>
                      api('POST', `/v1/intents/${intent.id}/resolve`, {
                        externalId: ext.value.trim(),
                        ...(url.value.trim() ? { url: url.value.trim() } : {}),
                        ...(why.value.trim() ? { reason: why.value.trim() } : {}),
                      }),
                    ).then(route)
                  : setFlash('Resolving needs the id the provider gave the effect.', 'bad'),
            },
            'Resolve: it happened',
          ),
        ),
      );
    }
    box.append(
      h('p', { class: 'explain' }, MEANS.retry),
      h(
        'div',
        { class: 'actions' },
        why,
        h(
          'button',
          {
            onclick: () =>
              act('Retried', () =>
                api('POST', `/v1/intents/${intent.id}/retry`, why.value.trim() ? { reason: why.value.trim() } : {}),
              ).then(route),
          },
          'Retry: send it again',
        ),
      ),
    );
    parts.push(box);
  }
  parts.push(
    h('h2', {}, 'Payload'),
    pre(json(intent.payload)),
    h('h2', {}, 'Approvals'),
    cards(intent.approvals, (a) =>
      h(
        'article',
        { class: `card ${a.decision === 'approve' ? 'ok' : 'bad'}` },
        kv([
          ['Decision', a.decision],
          ['By', a.actor],
          ['Reason', a.reason, 'wrap'],
          ['When', ago(a.createdAt)],
        ]),
      ),
    ),
    h('h2', {}, 'Attempts'),
    cards(intent.attempts, (a) =>
      h(
        'article',
        { class: 'card' },
        kv([
          ['Attempt', String(a.attemptNo)],
          ['Executor', a.executorId],
          ['Started', ago(a.startedAt)],
          ['Finished', a.finishedAt ? ago(a.finishedAt) : null],
          ['Outcome', a.outcome],
          ['Error', [a.errorClass, a.errorMessage].filter(Boolean).join(': ') || null, 'wrap'],
        ]),
      ),
    ),
    h('h2', {}, 'Receipts'),
    cards(intent.receipts, (r) =>
      h(
        'article',
        { class: `card ${r.kind === 'success' ? 'ok' : 'bad'}` },
        kv([
          ['Kind', r.kind],
          ['Source', r.source],
          ['External id', r.externalId],
          ['URL', r.url],
          ['Error', [r.errorClass, r.errorMessage].filter(Boolean).join(': ') || null, 'wrap'],
          ['When', ago(r.createdAt)],
        ]),
      ),
    ),
    h('h2', {}, 'Audit'),
    audit && Array.isArray(audit.entries)
      ? cards(audit.entries, (e) =>
          h(
            'article',
            { class: 'card' },
            kv([
              ['Action', e.action],
              ['By', e.actorName ? `${e.actorName} (${e.actor})` : e.actor],
              ['When', ago(e.at || e.createdAt)],
              ['Details', Object.keys(e.details || {}).length ? pre(json(e.details)) : null],
            ]),
          ),
        )
      : h('p', { class: 'muted' }, 'the audit log is not available'),
  );
  return parts;
}

// ---------- rendering and routing ----------

let renderedRoute = null;
let renderedKey = null;

function render() {
  if (!state.session || !state.live) return;
  const hash = location.hash || '#/';
  if (hash.startsWith('#/intent/')) return; // the intent page renders itself (route)
  const content = document.getElementById('content');
  // a person typing a reason keeps their text and focus: the next poll renders instead
  if (
    content.contains(document.activeElement) &&
    document.activeElement.tagName === 'INPUT' &&
    document.activeElement.type === 'text'
  )
    return;
  // unchanged data leaves the page alone (open details, scroll position); times tick on their own
  const { generatedAt: _at, ...live } = state.live;
  const key = JSON.stringify([live, state.pending, state.commands, state.sessions, state.session.role]);
  if (renderedRoute === hash && key === renderedKey) return;
  renderedKey = key;
  const scrollY = window.scrollY;
  content.replaceChildren(...overview());
  renderedRoute = hash;
  window.scrollTo(0, scrollY);
  tick();
}

/** Shows what the address names; `polling`: a refresh, which leaves a page whose form is in use alone. */
async function route(polling) {
  if (!state.session) return;
  const hash = location.hash || '#/';
  const match = /^#\/intent\/([0-9a-f-]{36})$/.exec(hash);
  const content = document.getElementById('content');
  if (match) {
    if (polling && content.contains(document.activeElement) && document.activeElement.tagName === 'INPUT') return;
    try {
      content.replaceChildren(...(await intentPage(match[1])));
      renderedRoute = hash;
      tick();
    } catch (err) {
      content.replaceChildren(
        h('p', { class: 'message bad' }, `Could not load the intent: ${err.message}`),
        h('a', { href: '#/' }, 'back'),
      );
    }
    return;
  }
  if (renderedRoute !== hash) render();
}

async function start() {
  document.getElementById('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = document.getElementById('token');
    const token = input.value.trim();
    input.value = '';
    void signIn({ token });
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    try {
      await api('DELETE', '/console/api/session');
    } catch {
      // signed out either way
    }
    signedOut('Signed out.');
    document.getElementById('sign-in-message').className = 'message ok';
  });
  window.addEventListener('hashchange', () => {
    if (/^#code=/.test(location.hash)) return;
    void route();
  });
  setInterval(tick, 1000);

  // the one-time link: the code is in the fragment, which no server and no Referer ever sees
  const code = /^#code=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (code) {
    history.replaceState(null, '', '/console/#/');
    await signIn({ code: code[1] });
    return;
  }
  try {
    state.session = await api('GET', '/console/api/session');
    await enter();
  } catch {
    signedOut('');
  }
}

void start();
