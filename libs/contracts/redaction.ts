/**
 * The one home of redaction: known credential values in every common encoding, secret-looking
 * strings (bearer tokens, API keys), and the log paths pino blanks out. Connectors, the executor's
 * receipts and logger, the coordinator's logger and the agent's audit records all use it.
 */

export const REDACTED = '[redacted]';

/** Shorter values are not redacted on their own: they would mangle ordinary text (ports, "on"). */
const MIN_SECRET = 4;

/** A long word of a credential (the token of "Bearer <token>", the pass of "user:pass") is a secret too. */
const MIN_PART = 8;

/** A value and its long words: a receiver may echo only the token of "Bearer <token>". */
export function secretParts(value: string): string[] {
  const out = new Set<string>();
  if (value.length >= MIN_SECRET) out.add(value);
  for (const word of value.split(/[\s:,;]+/)) if (word.length >= MIN_PART) out.add(word);
  return [...out];
}

const base64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const stripPad = (s: string): string => s.replace(/=+$/, '');
const toUrlAlphabet = (s: string): string => s.replace(/\+/g, '-').replace(/\//g, '_');

/**
 * The base64 text that encodes `secret` wherever it sits inside a longer encoded string (e.g.
 * `Basic base64(user:pass)`): one form per alignment (0, 1 or 2 bytes before it), keeping only the
 * characters that depend on the secret alone.
 */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const out: string[] = [stripPad(base64(bytes))];
  for (const lead of [1, 2]) {
    const encoded = stripPad(base64(Buffer.concat([Buffer.alloc(lead), bytes])));
    // the first ceil(lead*8/6) characters mix in the unknown leading bytes
    const skip = lead === 1 ? 2 : 3;
    const total = lead + bytes.length;
    // the last character mixes in the unknown trailing bytes unless the input ends on a 3-byte boundary
    const tail = total % 3 === 0 ? 0 : 1;
    const core = encoded.slice(skip, encoded.length - tail);
    if (core.length >= MIN_SECRET) out.push(core);
  }
  // without the last (possibly partial) character: an echo of the secret followed by other bytes
  const plain = out[0]!;
  if (bytes.length % 3 !== 0 && plain.length > MIN_SECRET) out.push(plain.slice(0, -1));
  return out;
}

/** Every form a secret may take in text a provider returns: as is, any case, base64(url), URL-encoded, hex, \\u-escaped. */
export function secretVariants(secret: string): string[] {
  const forms = new Set<string>();
  for (const s of new Set([secret, secret.toLowerCase(), secret.toUpperCase()])) {
    forms.add(s);
    for (const b of base64Forms(s)) {
      forms.add(b);
      forms.add(toUrlAlphabet(b));
    }
    forms.add(encodeURIComponent(s));
    forms.add(encodeURIComponent(s).replace(/%20/g, '+'));
    forms.add(escape(s));
    // every byte percent-encoded, and JSON's \\u escapes: other encoders' ways to the same bytes
    forms.add([...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
    forms.add([...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
    forms.add(Buffer.from(s).toString('hex'));
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET);
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface Redactor {
  (text: string): string;
  /** True when the text holds a known secret in any encoding (case-insensitive). */
  finds(text: string): boolean;
}

/**
 * Replaces every known secret (and its long words) in every encoding, case-insensitively, with
 * `[redacted]`. Matching ignores case for all forms: a lower-cased base64 copy is still a copy.
 */
export function createRedactor(values: Iterable<string | undefined | null>): Redactor {
  const forms = new Set<string>();
  for (const v of values)
    if (typeof v === 'string') for (const part of secretParts(v)) for (const f of secretVariants(part)) forms.add(f);
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const pattern = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join('|'), 'gi') : undefined;
  const redactor = ((text: string) => (pattern ? text.replace(pattern, REDACTED) : text)) as Redactor;
  redactor.finds = (text) => {
    if (!pattern) return false;
    pattern.lastIndex = 0;
    const found = pattern.test(text);
    pattern.lastIndex = 0;
    return found;
  };
  return redactor;
}

/**
 * Credentials this process learned after start (the new tokens of an OAuth refresh): not in
 * secrets.json when the executor's redactors were built, yet just as secret.
 */
let learned: string[] = [];
let learnedRedactor: Redactor = createRedactor([]);

/** Makes every redactor from `createExecutorRedactor` (receipts, errors, the executor's log) know `value` too. */
export function learnCredential(value: string): void {
  if (value === '' || learned.includes(value)) return;
  learned = [...learned, value];
  learnedRedactor = createRedactor(learned);
}

/** The credentials of secrets.json, and every credential learned since (learnCredential). */
export function createExecutorRedactor(values: Iterable<string | undefined | null>): Redactor {
  const known = createRedactor(values);
  const redactor = ((text: string) => learnedRedactor(known(text))) as Redactor;
  redactor.finds = (text) => known.finds(text) || learnedRedactor.finds(text);
  return redactor;
}

/** Keys whose values in a secrets.json account are settings, not credentials (all others are secret). */
const SETTING_KEYS = new Set([
  'hosts',
  'host',
  'port',
  'secure',
  'requireTLS',
  'rejectUnauthorized',
  'apiBaseUrl',
  'serverUrl',
  'calendarUrl',
  'from',
  'organizer',
  'sentFolder',
  'extraFolders',
  'userId',
  'username',
  'user',
  'expiresAt',
  // a notify target's provider ("ntfy", "email"): redacting it would blank that word in every message
  'kind',
]);

/** The credential strings of one secrets.json account: every string leaf except the settings above. */
export function credentialValues(account: unknown, depth = 0): string[] {
  if (depth > 10 || account === null || typeof account !== 'object')
    return typeof account === 'string' ? [account] : [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(account)) {
    if (SETTING_KEYS.has(key)) continue;
    if (typeof value === 'string') out.push(value);
    else if (typeof value === 'object' && value !== null) out.push(...credentialValues(value, depth + 1));
  }
  return out;
}

// ---------- secret-looking strings, for text whose secrets are not known (audit records) ----------

const SECRET_KEY = /(token|passw(or)?d|secret|authorization|api[-_]?key|cookie|credential|private[-_]?key)/i;
const SECRET_VALUE: RegExp[] = [
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\b(Basic)\s+[A-Za-z0-9+/=]{8,}/gi,
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bxox[abpors]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
];

/** Replaces strings that look like a bearer token or an API key, wherever they appear. */
export function redactSecretLooking(text: string, censor: string = REDACTED): string {
  let out = text;
  for (const pattern of SECRET_VALUE)
    out = out.replace(pattern, (_m, scheme?: string) =>
      scheme && /^(bearer|basic)$/i.test(scheme) ? `${scheme} ${censor}` : censor,
    );
  return out;
}

/** Values of secret-named keys and secret-looking strings, anywhere in a JSON-like value. */
export function redactValue(value: unknown, censor: string = REDACTED, depth = 0): unknown {
  if (depth > 20) return censor;
  if (typeof value === 'string') return redactSecretLooking(value, censor);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, censor, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] =
        SECRET_KEY.test(key) && inner !== null && typeof inner !== 'object'
          ? censor
          : redactValue(inner, censor, depth + 1);
    }
    return out;
  }
  return value;
}

/** Paths pino blanks out wherever they appear in a log line: bearer tokens and anything named like a secret. */
export const LOG_REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'password',
  '*.password',
  'pass',
  '*.pass',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'credentials',
  '*.credentials',
  'databaseUrl',
  '*.databaseUrl',
];

// ---------- what a provider returns, before it becomes a receipt ----------

/** A receipt's external id: a provider's id, not prose; anything else is withheld (decision 27). */
export const SAFE_EXTERNAL_ID = /^[A-Za-z0-9<][A-Za-z0-9._:@+/=<>-]{0,199}$/;
export const MAX_RECEIPT_URL = 2048;

/**
 * The external id to store: the provider's when it has the safe shape and holds no credential in
 * any encoding, else `withheld:<intentId>` (the effect happened; only its name is not kept).
 */
export function safeExternalId(candidate: string, intentId: string, redactor?: Redactor): string {
  if (SAFE_EXTERNAL_ID.test(candidate) && !redactor?.finds(candidate)) return candidate;
  return `withheld:${intentId}`;
}

/** The receipt URL to store: http(s), no user-info, printable, at most 2048 characters, no credential; else null. */
export function safeReceiptUrl(candidate: string | null | undefined, redactor?: Redactor): string | null {
  if (typeof candidate !== 'string' || candidate.length > MAX_RECEIPT_URL || !/^[\x21-\x7e]+$/.test(candidate))
    return null;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '')
    return null;
  if (redactor?.finds(candidate) || redactor?.finds(url.toString())) return null;
  return candidate;
}
