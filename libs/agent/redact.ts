/**
 * Secrets out of audit records: values of keys that name a secret, and strings that look like a
 * bearer token or an API key wherever they appear.
 */
const SECRET_KEY = /(token|passw(or)?d|secret|authorization|api[-_]?key|cookie|credential|private[-_]?key)/i;
const SECRET_VALUE: RegExp[] = [
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bxox[abpors]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
];

export const REDACTED = '[REDACTED]';

export function redactString(text: string): string {
  let out = text;
  for (const pattern of SECRET_VALUE) out = out.replace(pattern, (_m, bearer?: string) => (bearer && /^bearer$/i.test(bearer) ? `${bearer} ${REDACTED}` : REDACTED));
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = SECRET_KEY.test(key) && inner !== null && typeof inner !== 'object' ? REDACTED : redact(inner, depth + 1);
    }
    return out;
  }
  return value;
}
