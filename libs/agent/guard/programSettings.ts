import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { isInside } from './paths.ts';

/**
 * Settings that name a program to run: environment variables (`EDITOR`, `GIT_SSH_COMMAND`,
 * `npm_config_script_shell`), git configuration (`core.fsmonitor`, `alias.x=!…`, filter drivers)
 * given on the command line, in GIT_CONFIG_* variables or in the repository's `.git/config`, and
 * the project's `.npmrc`. Setting one is running that program (docs/guard.md, "Programs named by
 * settings").
 */

/**
 * Variables whose value is a command line some program runs (git runs `$EDITOR "$@"` through
 * sh). A known value is judged as shell code; an unknown one is asked about.
 */
export const PROGRAM_VARS = new Set([
  'EDITOR',
  'VISUAL',
  'PAGER',
  'GIT_EDITOR',
  'GIT_PAGER',
  'GIT_SEQUENCE_EDITOR',
  'MANPAGER',
  'SYSTEMD_PAGER',
  'BROWSER',
  'SHELL',
  'NPM_CONFIG_SCRIPT_SHELL',
  'NPM_CONFIG_SHELL',
  'NPM_CONFIG_EDITOR',
  'NPM_CONFIG_BROWSER',
  'NPM_CONFIG_GIT',
  'NPM_CONFIG_VIEWER',
  'YARN_SCRIPT_SHELL',
  'PNPM_SCRIPT_SHELL',
  'PSQL_PAGER',
  'GH_PAGER',
  'GH_EDITOR',
  'KUBE_EDITOR',
  'FCEDIT',
  'SVN_EDITOR',
  'HGEDITOR',
  'DELTA_PAGER',
  'BAT_PAGER',
  'AWS_PAGER',
  'SUDO_EDITOR',
]);

/** Variables that make programs load code, read other configuration or run helpers: always asked about. */
export const INJECTION_VARS = new Set([
  'LD_PRELOAD',
  'LD_AUDIT',
  'LD_LIBRARY_PATH',
  'DYLD_INSERT_LIBRARIES',
  'DYLD_LIBRARY_PATH',
  'DYLD_FRAMEWORK_PATH',
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'CDPATH',
  'GLOBIGNORE',
  'BASH_XTRACEFD',
  'BASH_LOADABLES_PATH',
  'ZDOTDIR',
  'GIT_SSH_COMMAND',
  'GIT_SSH',
  'GIT_PROXY_COMMAND',
  'GIT_EXTERNAL_DIFF',
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'GIT_EXEC_PATH',
  'GIT_TEMPLATE_DIR',
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_COMMON_DIR',
  'GIT_CONFIG',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_SYSTEM',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_PARAMETERS',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_OBJECT_DIRECTORY',
  'GIT_INDEX_FILE',
  'LESSOPEN',
  'LESSCLOSE',
  'LESSKEY',
  'LESSKEYIN',
  'LESSKEY_SYSTEM',
  'MANOPT',
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'PYTHONSTARTUP',
  'PYTHONINSPECT',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONWARNINGS',
  'PYTHONBREAKPOINT',
  'PYTHONUSERBASE',
  'PERL5OPT',
  'PERL5DB',
  'PERL5LIB',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'MAKEFLAGS',
  'MFLAGS',
  'GNUMAKEFLAGS',
  'MAKEFILES',
  'MAKESHELL',
  'NPM_CONFIG_USERCONFIG',
  'NPM_CONFIG_GLOBALCONFIG',
  'NPM_CONFIG_NODE_OPTIONS',
  'NPM_CONFIG_ONLOAD_SCRIPT',
  'NPM_CONFIG_INIT_MODULE',
  'NPM_CONFIG_PREFIX',
  'YARN_RC_FILENAME',
  'YARN_YARN_PATH',
  'COMPOSER_HOME',
  'CARGO_HOME',
  'RUSTC_WRAPPER',
  'RUSTC',
  'CARGO_BUILD_RUSTC_WRAPPER',
  // Where programs look for their configuration (`HOME=. git status` reads ./.gitconfig, whose
  // core.fsmonitor runs; a kubeconfig's `exec:`, an AWS `credential_process`, docker credHelpers run programs).
  'HOME',
  'XDG_CONFIG_HOME',
  'KUBECONFIG',
  'DOCKER_CONFIG',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'GNUPGHOME',
  'PIP_CONFIG_FILE',
  'CURL_HOME',
  'WGETRC',
  'INPUTRC',
  'LESS',
  'EMACSLOADPATH',
  'VIMINIT',
  'EXINIT',
  'MYVIMRC',
  'RIPGREP_CONFIG_PATH',
  'TAR_OPTIONS',
  'GZIP',
  'ZIPOPT',
  'UNZIP',
  'XZ_OPT',
  'GREP_OPTIONS',
  'PARALLEL',
]);

/** `GIT_CONFIG_KEY_0`, `npm_config_…` (npm reads them in any case). */
export function settingVarKind(name: string): 'program' | 'injection' | null {
  const upper = name.toUpperCase();
  // `BASH_FUNC_ls%%=() { … }` defines a function in the bash it starts; any name bash cannot assign is as odd.
  if (upper.startsWith('BASH_FUNC_') || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return 'injection';
  if (PROGRAM_VARS.has(upper)) return 'program';
  if (INJECTION_VARS.has(name) || INJECTION_VARS.has(upper)) return 'injection';
  if (/^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(upper)) return 'injection';
  // Any other npm setting may name a shell, an rc file or a script: ask.
  if (/^NPM_CONFIG_.*(SHELL|SCRIPT|NODE|CONFIG|GIT|EDITOR|PREFIX|CMD|COMMAND|BIN|HOOK|INIT)/.test(upper))
    return 'injection';
  return null;
}

/**
 * git configuration keys (lower-cased, `section.sub.name`) whose value runs a program, reads
 * further configuration or leaves the repository.
 */
const GIT_PROGRAM_KEY = new RegExp(
  '^(' +
    [
      'core\\.(fsmonitor|pager|editor|sshcommand|hookspath|askpass|gitproxy|alternaterefscommand|worktree|attributesfile|excludesfile)',
      'filter\\..+\\.(clean|smudge|process)',
      'diff\\..+\\.(textconv|command)',
      'diff\\.external',
      'merge\\..+\\.driver',
      'mergetool\\..+\\.cmd',
      'difftool\\..+\\.cmd',
      'include\\.path',
      'includeif\\..+\\.path',
      'credential\\..*',
      'gpg\\.(.+\\.)?program',
      'sequence\\.editor',
      'uploadpack\\.packobjectshook',
      'receive\\.procreceiverefs',
      'pager\\..+',
      'interactive\\.difffilter',
      'web\\.browser',
      'browser\\..+\\.(cmd|path)',
      'man\\..+\\.(cmd|path)',
      'remote\\..+\\.(uploadpack|receivepack|vcs|proxy)',
      'submodule\\..+\\.update',
      'init\\.templatedir',
      'sendemail\\..*',
      'http\\..*(proxy|sslkey|sslcert|cookiefile)',
      'protocol\\..*allow',
      'url\\..+\\.(insteadof|pushinsteadof)',
      '.*\\.(cmd|command|program|helper|tool|path)',
    ].join('|') +
    ')$',
);

/** Does setting git `key` to `value` run a program (or otherwise change what git runs)? */
export function gitKeyRunsProgram(key: string, value: string | null): boolean {
  const k = key.trim().toLowerCase();
  if (/^alias\./.test(k)) return value === null || value.trimStart().startsWith('!');
  if (k === 'core.fsmonitor' && value !== null && /^(false|no|off|0)?$/i.test(value.trim())) return false;
  return GIT_PROGRAM_KEY.test(k) || (value !== null && /^\s*ext::/.test(value));
}

/** `core.pager=sh`, `'core.pager'='sh'` (GIT_CONFIG_PARAMETERS): the key and value of a `-c` setting. */
export function splitGitSetting(text: string): [string, string | null] {
  const unquoted = text.replace(/'/g, '');
  const eq = unquoted.indexOf('=');
  return eq < 0 ? [unquoted, null] : [unquoted.slice(0, eq), unquoted.slice(eq + 1)];
}

const MAX_CONFIG_BYTES = 256 * 1024;

/** The first setting in a git config file that runs a program, or null. */
export function gitConfigFileRisk(text: string): string | null {
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$/.exec(line);
    if (header) {
      section = header[2] !== undefined ? `${header[1]}.${header[2]}` : (header[1] ?? '');
      // `[core] fsmonitor = x` on one line
      const rest = header[3] ?? '';
      if (rest && !rest.startsWith('#') && !rest.startsWith(';')) {
        const m = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(rest);
        if (m && gitKeyRunsProgram(`${section}.${m[1]}`, m[2] ?? 'true')) return `${section}.${m[1]}`;
      }
      continue;
    }
    if (/^\[/.test(line)) return line; // a section header we cannot read
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!m) continue;
    const key = `${section}.${m[1]}`;
    if (gitKeyRunsProgram(key, (m[2] ?? 'true').replace(/^"|"$/g, ''))) return key;
  }
  return null;
}

/**
 * The repository git would use from `cwd`: the nearest `.git` at or above it. Returns the config
 * file path, `outside` when the repository (or a `gitdir:` link) lies outside the sandbox, or null.
 */
export function repositoryConfig(cwd: string, sandboxRoot: string): { config: string } | 'outside' | null {
  for (let dir = cwd; ; dir = posix.dirname(dir)) {
    const dotGit = posix.join(dir, '.git');
    try {
      const stat = statSync(dotGit);
      if (!isInside(dir, sandboxRoot)) return 'outside';
      if (stat.isDirectory()) return { config: posix.join(dotGit, 'config') };
      // A `.git` file (`gitdir: PATH`): a worktree or submodule whose repository lies elsewhere.
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, 'utf8').slice(0, 4096));
      if (!m?.[1]) return 'outside';
      const target = posix.resolve(dir, m[1]);
      return isInside(target, sandboxRoot) ? { config: posix.join(target, 'config') } : 'outside';
    } catch {
      // no .git here
    }
    if (dir === '/') return null;
  }
}

/** The first program-running setting in the file at `path` (git config or .npmrc), or null; unreadable is null. */
export function settingsFileRisk(path: string, kind: 'git' | 'npmrc'): string | null {
  let text: string;
  try {
    if (statSync(path).size > MAX_CONFIG_BYTES) return `${posix.basename(path)} is too large to read`;
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  if (kind === 'git') return gitConfigFileRisk(text);
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z0-9_.:/@-]+)\s*=/.exec(raw);
    if (m?.[1] && settingVarKind(`npm_config_${m[1].replace(/-/g, '_')}`) !== null) return m[1];
  }
  return null;
}

/**
 * Paths whose content later git commands obey: hooks, config (fsmonitor, aliases, filters),
 * attributes (which filter runs), `.gitmodules`, a `.git` file (`gitdir:` elsewhere), and the
 * global `.gitconfig` (the agent's HOME is the sandbox root). Writing one is asked about; deleting
 * is not.
 */
export const RUNS_LATER =
  /(^|\/)(\.git(\/(hooks(\/|$).*|config|info\/attributes|worktrees\/[^/]+\/config|modules\/.+\/(config|hooks(\/.*)?)))?|\.gitattributes|\.gitmodules|\.gitconfig|\.config\/git(\/(config|attributes))?)$/;
