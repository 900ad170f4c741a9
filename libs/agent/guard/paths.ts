import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { Word } from './words.ts';

/**
 * Path judgement: where a word lands relative to the sandbox, and whether it names a protected
 * (credential) path. Paths are resolved lexically (`..` normalised); symlinks are not followed.
 */

export type Place = 'inside' | 'outside' | 'unresolved' | 'device' | 'sandboxRoot';

export interface PathContext {
  cwd: string | null;
  sandboxRoot: string;
  /** The sandbox root with symlinks resolved (defaults to sandboxRoot). */
  realRoot?: string;
  /** realpath results for this check. */
  realCache?: Map<string, string | null>;
  home: string;
  handoffHome: string;
}

/** Device files a command may write to without harm. */
const HARMLESS_DEVICES = /^\/dev\/(null|zero|full|random|urandom|tty|stdin|stdout|stderr|fd\/\d+|pts\/\d+)$/;

export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

export function resolveFrom(cwd: string | null, path: string): string | null {
  if (path.startsWith('/')) return posix.normalize(path).replace(/(.)\/$/, '$1');
  if (cwd === null) return null;
  return posix.resolve(cwd, path);
}

function placeOfPath(path: string, ctx: PathContext): Place {
  if (path.startsWith('/dev/')) return HARMLESS_DEVICES.test(path) ? 'inside' : 'device';
  if (path === ctx.sandboxRoot) return 'sandboxRoot';
  if (!isInside(path, ctx.sandboxRoot)) return 'outside';
  // A symlink already in the sandbox (`link -> /etc`) makes `link/passwd` a path outside it.
  const real = realPathOfExisting(path, ctx.realCache);
  return isInside(real, ctx.realRoot ?? ctx.sandboxRoot) || isInside(real, ctx.sandboxRoot) ? 'inside' : 'outside';
}

/**
 * The path with the symlinks of its existing part resolved, dangling links followed to where
 * they point. `cache` (one per check) keeps a long command from stat-ing the same directories
 * over and over; lstat with throwIfNoEntry keeps missing paths cheap.
 */
export function realPathOfExisting(path: string, cache?: Map<string, string | null>, hops = 0): string {
  if (path === '/' || path === '' || hops > 40) return path;
  const known = cache?.get(path);
  if (known) return known;
  const parent = realPathOfExisting(posix.dirname(path), cache, hops + 1);
  let real = posix.join(parent, posix.basename(path));
  try {
    const stat = lstatSync(real, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) {
      const target = readlinkSync(real);
      real = realPathOfExisting(posix.resolve(parent, target), cache, hops + 1);
    }
  } catch {
    // unreadable: keep the lexical answer
  }
  cache?.set(path, real);
  return real;
}

/** The directory a glob or unknown word is fixed to: the text up to its last `/` before the first wildcard. */
function fixedDir(text: string): string {
  const cut = text.lastIndexOf('/');
  if (cut < 0) return '.';
  return cut === 0 ? '/' : text.slice(0, cut);
}

/** A glob segment that could match `.` or `..` (`.*`, `.?`, `..*`) climbs out of its directory. */
const CLIMBING_GLOB = /(^|\/)\.{1,2}[*?[]/;

/** Every place a word used as a path can land (a word with several values can land in several). */
export function placesOf(word: Word, ctx: PathContext): Place[] {
  if (word.assumeOutside) return ['outside'];
  if (word.values === null) {
    // Unknown: outside when the literal prefix already is; otherwise it could be anything.
    const prefix = word.prefix;
    if (prefix.startsWith('/')) {
      const dir = resolveFrom(ctx.cwd, fixedDir(prefix));
      if (dir !== null && placeOfPath(dir, ctx) !== 'inside' && !isInside(dir, ctx.sandboxRoot)) return ['outside'];
    }
    return ['unresolved'];
  }
  const places = new Set<Place>();
  for (const value of word.values) {
    if (value === '') continue;
    if (word.glob) {
      const first = value.search(/[*?[]|[@+!]\(/);
      const fixed = first < 0 ? value : value.slice(0, first);
      const dir = resolveFrom(ctx.cwd, first < 0 ? value : fixedDir(fixed));
      if (dir === null) places.add('unresolved');
      else if (!isInside(dir, ctx.sandboxRoot)) places.add(dir.startsWith('/dev') ? 'device' : 'outside');
      else if (CLIMBING_GLOB.test(value.slice(fixed.lastIndexOf('/') + 1))) places.add('unresolved');
      else places.add('inside');
      continue;
    }
    const path = resolveFrom(ctx.cwd, value);
    places.add(path === null ? 'unresolved' : placeOfPath(path, ctx));
  }
  return [...places];
}

// ---- protected paths (credentials, history, handoff secrets) ----

export const DEFAULT_PROTECTED_PATHS: readonly string[] = [
  '~/.ssh/**',
  '~/.aws/**',
  '~/.gnupg/**',
  '~/.netrc',
  '~/.git-credentials',
  '~/.pgpass',
  '~/.npmrc',
  '~/.pypirc',
  '~/.docker/config.json',
  '~/.kube/config',
  '~/.config/gh/**',
  '~/.config/gcloud/**',
  '~/.azure/**',
  '~/.password-store/**',
  '~/Library/Keychains/**',
  '~/.local/share/keyrings/**',
  '~/.bash_history',
  '~/.zsh_history',
  '~/.history',
  '~/.sh_history',
  // Every file of $HANDOFF_HOME: secrets.json, tokens, pg.json (the Postgres superuser password),
  // policy.json, agent.json, the database. A sandbox inside it stays the agent's (protectedMatcher).
  '$HANDOFF_HOME/**',
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/sudoers',
  '/etc/sudoers.d/**',
  '/etc/ssh/*_key',
  '/root/**',
  '/home/*/.ssh/**',
  '/Users/*/.ssh/**',
  '/home/*/.aws/**',
  '/Users/*/.aws/**',
  '/Library/Keychains/**',
  // Other processes' environment, memory, command line and open files, and the /proc links that
  // lead to their root and working directory (`/proc/1/root/etc/shadow`).
  '/proc/*/environ',
  '/proc/*/mem',
  '/proc/*/cmdline',
  '/proc/*/maps',
  '/proc/*/smaps',
  '/proc/*/auxv',
  '/proc/*/pagemap',
  '/proc/*/syscall',
  '/proc/*/stack',
  '/proc/*/exe',
  '/proc/*/root/**',
  '/proc/*/cwd/**',
  '/proc/*/fd/**',
  '/proc/*/fdinfo/**',
  '/proc/*/map_files/**',
  '/proc/*/task/**',
  '/proc/kcore',
  '/proc/kallsyms',
];

export interface ProtectedMatcher {
  /** The protected pattern a path falls under, or null. */
  match(path: string): string | null;
  /** Concrete sample paths under each pattern, to test globs against. */
  samples: string[];
  /** The directories protected whole (`dir/**` patterns), to test globs that reach into them. */
  dirs: string[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += escapeRegex(c);
  }
  return out;
}

/**
 * `sandboxRoot`: a sandbox kept inside $HANDOFF_HOME is the agent's own; the `$HANDOFF_HOME/…`
 * patterns do not cover paths inside it (every other pattern still does).
 */
export function protectedMatcher(
  patterns: readonly string[],
  home: string,
  handoffHome: string,
  sandboxRoot?: string,
): ProtectedMatcher {
  const compiled = patterns.map((pattern) => {
    const absolute = pattern.startsWith('~/')
      ? `${home}/${pattern.slice(2)}`
      : pattern.startsWith('$HANDOFF_HOME/')
        ? `${handoffHome}/${pattern.slice('$HANDOFF_HOME/'.length)}`
        : pattern;
    // `dir/**` protects the directory itself too.
    const body = absolute.endsWith('/**') ? `${globToRegex(absolute.slice(0, -3))}(/.*)?` : globToRegex(absolute);
    const sample = absolute.replace(/\/\*\*$/, '/id_rsa').replace(/\*/g, 'operator');
    // `/proc/[0-9]*/environ`: a glob over pids must meet a sample with digits.
    const numeric = absolute.replace(/\/\*\*$/, '/id_rsa').replace(/\*/g, '1');
    const ofHandoffHome = pattern.startsWith('$HANDOFF_HOME/');
    const dir = absolute.endsWith('/**') ? absolute.slice(0, -3) : null;
    return {
      pattern,
      ofHandoffHome,
      dir,
      regex: new RegExp(`^${body}$`, 'i'),
      samples: [sample, numeric, absolute.replace(/\/\*\*$/, '')].filter((s) => !s.includes('*')),
    };
  });
  return {
    match(path) {
      const inSandbox = sandboxRoot !== undefined && isInside(path, sandboxRoot);
      for (const c of compiled) if (c.regex.test(path) && !(c.ofHandoffHome && inSandbox)) return c.pattern;
      return null;
    },
    samples: compiled.flatMap((c) => c.samples),
    dirs: compiled.map((c) => c.dir).filter((d): d is string => d !== null && d !== ''),
  };
}

/** Can the glob `path` match `dir` itself or something inside it? Segment by segment; `**` matches any depth. */
function globReaches(path: string, dir: string): boolean {
  const g = path.split('/').filter(Boolean);
  const d = dir.split('/').filter(Boolean);
  for (let i = 0; i < d.length; i++) {
    const segment = g[i];
    if (segment === undefined) return false;
    if (segment === '**') return true;
    if ((d[i] ?? '').includes('*')) continue; // `/home/*/.ssh`: any user's
    let regex: RegExp;
    try {
      regex = globMatcher(segment);
    } catch {
      return true; // an unreadable pattern: assume it reaches
    }
    if (!regex.test(d[i] ?? '')) return false;
  }
  return true;
}

/** A `.env` file (`.env`, `.env.local`, `prod.env`) outside the sandbox: someone else's secrets. */
const ENV_FILE = /(^|\/)(\.env(\.[^/]*)?|[^/]+\.env)$/;

function globMatcher(glob: string): RegExp {
  return new RegExp(`^${globToRegex(glob).replace(/\\\[/g, '[').replace(/\\\]/g, ']')}$`, 'i');
}

/** Text that names a credential even when the path around it is unknown (`$D/.ssh/id_rsa`). */
export const CREDENTIAL_MARKER =
  /(^|[/\s"'=:@])(\.ssh(\/|$)|\.aws\/|\.gnupg|\.netrc|\.git-credentials|\.pgpass|secrets\.json|pg\.json|id_(rsa|dsa|ecdsa|ed25519)(\.|$|\s)|\.password-store|Keychains\/|operator\.token|agent\.token)/i;

/**
 * The protected thing a word names, or null. Looks at the word itself and at the value after
 * `=` (`--key-file=~/.ssh/id`), resolving each against cwd; globs are tested against samples.
 */
export function protectedTarget(word: Word, ctx: PathContext, matcher: ProtectedMatcher): string | null {
  if (word.values === null) {
    // `/proc/$$/environ`, `/proc/$(pgrep node)/cmdline`: some process's files, which one is unknown.
    const prefix = word.prefix.startsWith('~/') ? `${ctx.home}${word.prefix.slice(1)}` : word.prefix;
    const path = prefix.startsWith('/') ? posix.normalize(prefix) : null;
    if (path !== null && path.startsWith('/proc/')) return "/proc/*/… (another process's files)";
    const hh = ctx.handoffHome.endsWith('/') ? ctx.handoffHome : `${ctx.handoffHome}/`;
    if (path !== null && (path === ctx.handoffHome || path.startsWith(hh)) && !isInside(path, ctx.sandboxRoot))
      return '$HANDOFF_HOME/**';
    return null;
  }
  for (const value of word.values) {
    const candidates = [value];
    const eq = value.indexOf('=');
    if (eq > 0) candidates.push(value.slice(eq + 1));
    // curl's `-d @file`, `-F f=@file`: the file is read and sent; `file:///x` is the file /x.
    for (const c of [...candidates]) if (c.startsWith('@')) candidates.push(c.slice(1));
    for (const c of [...candidates])
      if (/^file:\/\//i.test(c)) candidates.push(c.replace(/^file:\/\/(localhost)?/i, ''));
    for (const candidate of candidates) {
      if (candidate === '') continue;
      const expanded = candidate.startsWith('~/') ? `${ctx.home}${candidate.slice(1)}` : candidate;
      const resolved = resolveFrom(ctx.cwd ?? ctx.sandboxRoot, expanded);
      if (resolved === null) continue;
      if (word.glob && /[*?[]|[@+!]\(/.test(resolved)) {
        // An extglob group (`@(e)`, `+(x)`) matches like `*` as far as this check goes.
        const path = resolved.replace(/[@+!?*]\([^)]*\)/g, '*');
        let regex: RegExp;
        try {
          regex = globMatcher(path);
        } catch {
          continue;
        }
        const hit = matcher.samples.find((s) => regex.test(s));
        if (hit) return hit;
        // `$HANDOFF_HOME/*.token`: a glob in a directory whose every file is protected.
        const fixed = path.slice(0, path.search(/[*?[]/));
        const dirHit = matcher.match(`${fixed.slice(0, fixed.lastIndexOf('/') + 1)}any-file`);
        if (dirHit) return dirHit;
        // `/tmp/handoff-h*/pg.json`, `/*/x/.ssh/*`: a glob whose leading segments can match a protected directory.
        const reached = matcher.dirs.find((d) => globReaches(path, d) && !isInside(d, ctx.sandboxRoot));
        if (reached) return `${reached}/**`;
        if (
          !isInside(path.slice(0, Math.max(1, path.search(/[*?[]/))), ctx.sandboxRoot) &&
          /(^|\/)[^/]*\.env[^/]*$|\.env/.test(path) &&
          ENV_FILE.test(path.replace(/[*?]/g, 'x'))
        )
          return path;
        continue;
      }
      // `/proc/self/root/etc/shadow` is `/etc/shadow`; a symlink in the sandbox may point at a secret.
      const viaProc = resolved.replace(/^\/proc\/[^/]+\/root(?=\/)/, '');
      for (const p of new Set([resolved, viaProc, realPathOfExisting(resolved, ctx.realCache)])) {
        const hit = matcher.match(p);
        if (hit) return hit;
        if (ENV_FILE.test(p) && !isInside(p, ctx.realRoot ?? ctx.sandboxRoot) && !isInside(p, ctx.sandboxRoot))
          return '.env outside the sandbox';
      }
    }
  }
  return null;
}
