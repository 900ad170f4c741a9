import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import { formatIssues } from './errors.ts';
import type { FieldIssue } from './errors.ts';
import { Policy } from './policy.ts';

/**
 * A configuration file in $HANDOFF_HOME, validated by a zod schema at start and on every change.
 *
 * - At start a missing file means `defaultValue`; an invalid file throws, naming the file and each field.
 * - Afterwards a good change is handed to `onChange`; a bad one is refused through `onError` and the
 *   last good value stays current. Deleting the file falls back to `defaultValue`, the same value a
 *   fresh start would see.
 *
 * `fs.watchFile` polls (1 s) and a change is read once the file has been quiet for one interval: unlike `fs.watch` it keeps working when an editor replaces the file
 * (write to a temporary file, rename over the original) and on every platform.
 */
export interface ConfigWatcher<T> {
  current(): T;
  close(): void;
}

export interface WatchConfigOptions<T> {
  defaultValue: T;
  onChange?: (value: T) => void;
  onError?: (message: string) => void;
  /** Polling interval in milliseconds; 1000 unless a test needs it faster. */
  intervalMs?: number;
}

/** The outcome of reading one file: the value, `missing`, or the message that refuses it. */
type ReadResult<T> = { ok: true; value: T; text: string | null } | { ok: false; message: string };

export class ConfigFileError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = 'ConfigFileError';
    this.file = file;
  }
}

/** Like describeZodIssues, but an unknown key is named by its own path (`approval.defualt: Unrecognized key`). */
function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'Unrecognized key' }));
    }
    return [{ path: base.join('.') || '(root)', message: issue.message }];
  });
}

export function readConfigFile<T>(path: string, schema: z.ZodType<T>, defaultValue: T): ReadResult<T> {
  const name = basename(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, value: defaultValue, text: null };
    return { ok: false, message: `${name}: cannot be read: ${(err as Error).message}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `${name}: invalid JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, message: `${name}: ${formatIssues(fieldIssues(parsed.error))}` };
  return { ok: true, value: parsed.data, text };
}

export function watchConfigFile<T>(
  path: string,
  schema: z.ZodType<T>,
  options: WatchConfigOptions<T>,
): ConfigWatcher<T> {
  const first = readConfigFile(path, schema, options.defaultValue);
  if (!first.ok) throw new ConfigFileError(path, first.message);
  let value = first.value;
  let lastText = first.text;
  let closed = false;
  let settleTimer: NodeJS.Timeout | undefined;
  const settleMs = Math.max(50, options.intervalMs ?? 1000);

  // An in-place save is a truncate followed by a write; a poll can land between the two. Reading
  // only once the file has been quiet for one interval keeps a half-written file from being
  // reported as an error (or taken as a change).
  const listener = (curr: Stats, prev: Stats): void => {
    if (closed) return;
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
    clearTimeout(settleTimer);
    settleTimer = setTimeout(applySettledFile, settleMs);
    settleTimer.unref();
  };
  const applySettledFile = (): void => {
    if (closed) return;
    const next = readConfigFile(path, schema, options.defaultValue);
    if (!next.ok) {
      options.onError?.(next.message);
      return;
    }
    // Unchanged text (a touch, an editor's save without edits) is not a change.
    if (next.text === lastText) return;
    value = next.value;
    lastText = next.text;
    options.onChange?.(value);
  };
  watchFile(path, { interval: options.intervalMs ?? 1000, persistent: false }, listener);

  return {
    current: () => value,
    close: () => {
      closed = true;
      clearTimeout(settleTimer);
      unwatchFile(path, listener);
    },
  };
}

export const POLICY_FILE = 'policy.json';

/** `${home}/policy.json` with the `Policy` schema; a missing file is the default policy `{}`. */
export function loadPolicy(
  home: string,
  handlers: Omit<WatchConfigOptions<Policy>, 'defaultValue'> = {},
): ConfigWatcher<Policy> {
  return watchConfigFile(join(home, POLICY_FILE), Policy, { ...handlers, defaultValue: Policy.parse({}) });
}
