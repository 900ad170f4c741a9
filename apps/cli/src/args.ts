import { InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { AccountName, ChannelName, GateScope, IdPrefix, IntentIdParams, IntentState, Role } from '@handoff/contracts';
import { parsePort } from './config.ts';
import { UsageError } from './errors.ts';

/**
 * Argument and option parsers for commander, backed by the zod schemas of @handoff/contracts.
 * A bad value makes commander print `error: ... invalid for argument 'id'. <reason>` and exit 2.
 */

function reason(error: z.ZodError): string {
  return error.issues.map((issue) => issue.message).join('; ');
}

/** `message` replaces zod's own wording when that would be too terse for a command line. */
export function zodParser<T>(schema: z.ZodType<T>, message?: string): (value: string) => T {
  return (value: string) => {
    const result = schema.safeParse(value);
    if (!result.success) throw new InvalidArgumentError(message ?? reason(result.error));
    return result.data;
  };
}

/** For variadic arguments (`<id...>`): commander calls the parser once per value with the list so far. */
export function zodListParser<T>(
  schema: z.ZodType<T>,
  message?: string,
): (value: string, previous: T[] | undefined) => T[] {
  const one = zodParser(schema, message);
  return (value, previous) => [...(previous ?? []), one(value)];
}

/** The same schema the coordinator checks `:id` with. */
const IntentId = IntentIdParams.shape.id;
export const isFullId = (ref: string): boolean => IntentId.safeParse(ref).success;

/** The shortest start of an id the CLI takes: 6 hex digits make a clash rare among thousands. */
export const SHORT_ID_DIGITS = 6;
/** An intent (or command approval) id, whole or its first SHORT_ID_DIGITS or more hex digits. */
const IdRef = z.string().refine((s) => {
  if (isFullId(s)) return true;
  const prefix = IdPrefix.safeParse(s);
  return prefix.success && prefix.data.length >= SHORT_ID_DIGITS;
});
const NOT_AN_ID_REF = `must be an id (a UUID) or its first ${SHORT_ID_DIGITS} or more hex digits`;
export const parseIdRef = zodParser(IdRef, NOT_AN_ID_REF);
export const parseIdRefs = zodListParser(IdRef, NOT_AN_ID_REF);
export const parseGateScope = zodParser(GateScope);
export const parseState = zodParser(IntentState);
export const parseChannel = zodParser(ChannelName);
export const parseAccount = zodParser(AccountName);
export const parseRole = zodParser(Role);
export const parseReason = zodParser(z.string().trim().min(1, 'must not be empty').max(2000));
export const parseName = zodParser(z.string().trim().min(1, 'must not be empty').max(200));
export const parseText = zodParser(z.string().trim().min(1, 'must not be empty').max(4000));

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000)
    throw new InvalidArgumentError('must be a whole number from 1 to 1000');
  return n;
}

export function parsePortOption(value: string): number {
  try {
    return parsePort(value, '--port');
  } catch (err) {
    if (err instanceof UsageError) throw new InvalidArgumentError('must be a port number from 0 to 65535');
    throw err;
  }
}
