import { z } from 'zod';

/** Seconds in each unit a duration may be written in. */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** The longest duration accepted anywhere: ten years. */
export const MAX_DURATION_SECONDS = 10 * 365 * 86_400;

/**
 * A duration as people type it: a whole number and one unit, `90s`, `15m`, `24h`, `30d`, `2w`.
 * Parsed to seconds. The one grammar for `--expires` (token expiry) and `--since` (audit), in the
 * CLI and in the API alike.
 */
export const DurationText = z
  .string()
  .trim()
  .regex(/^\d{1,9}[smhdw]$/, 'must be a whole number and a unit: s, m, h, d or w (e.g. 30d, 24h)')
  .transform((text) => Number(text.slice(0, -1)) * UNIT_SECONDS[text.slice(-1) as keyof typeof UNIT_SECONDS])
  .refine((seconds) => seconds >= 1 && seconds <= MAX_DURATION_SECONDS, 'must be from 1s to 10 years');
