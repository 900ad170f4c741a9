import { ADDRESS_REFUSED } from './addressGuard.ts';

/**
 * What an HTTP client's error says about whether the request left: shared by every connector that
 * classifies transport failures (webhook, x, deploy, calendar).
 */

/** Connection-level failures that happen before a byte of the request left: nothing took effect. */
export const BEFORE_SEND_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The error's code, looking through Node's AggregateError ("tried every address") and undici's causes. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (Array.isArray(e.errors) && e.errors.length > 0) return errorCode(e.errors[0]);
  return errorCode(e.cause);
}

/** The connect-time address check refused the call (addressGuard.ts): nothing was sent, repeating cannot help. */
export function addressRefused(err: unknown): boolean {
  return errorCode(err) === ADDRESS_REFUSED;
}
