import { posix } from 'node:path';
import { literalWord, single, unknownWord } from './words.ts';
import type { Word } from './words.ts';

/**
 * What the guard knows about particular commands: which are shells and interpreters, which
 * wrap another command, which fetch from the network, and which of their operands they write.
 * Decisions are not made here; the rules (defaultRules.ts, guard.json) make them.
 */

export const SHELLS = new Set([
  'sh',
  'bash',
  'zsh',
  'dash',
  'ksh',
  'mksh',
  'ash',
  'fish',
  'csh',
  'tcsh',
  'busybox',
  'rbash',
]);

/** Interpreters and the options that take program text from the command line. */
export const INTERPRETERS: Record<string, string[]> = {
  python: ['-c'],
  python2: ['-c'],
  python3: ['-c'],
  pypy: ['-c'],
  pypy3: ['-c'],
  node: ['-e', '--eval', '-p', '--print'],
  nodejs: ['-e', '--eval', '-p', '--print'],
  bun: ['-e', '--eval', '-p', '--print'],
  deno: [],
  perl: ['-e', '-E'],
  ruby: ['-e'],
  php: ['-r'],
  lua: ['-e'],
  luajit: ['-e'],
  rscript: ['-e'],
  osascript: ['-e'],
  tclsh: [],
  jshell: [],
  irb: [],
  // Debuggers and tools whose scripts can run shell commands (`gdb -ex 'shell …'`, `expect -c 'spawn sh'`).
  gdb: [
    '-ex',
    '--ex',
    '-iex',
    '--iex',
    '-x',
    '--x',
    '-ix',
    '--ix',
    '--command',
    '--eval-command',
    '--init-command',
    '--init-eval-command',
    '-command',
    '-eval-command',
    '-init-command',
    '-init-eval-command',
  ],
  lldb: [
    '-o',
    '--one-line',
    '-O',
    '--one-line-before-file',
    '-s',
    '--source',
    '-S',
    '--source-before-file',
    '-k',
    '--one-line-on-crash',
    '-K',
    '--source-on-crash',
  ],
  expect: ['-c'],
  pwsh: ['-c', '-Command', '-command'],
  powershell: ['-c', '-Command', '-command'],
};

/** `python3.12` is python3. */
export function interpreterKey(name: string): string | null {
  if (name in INTERPRETERS) return name;
  const m = /^(python[23]?|pypy3?|perl|ruby|php|lua)[0-9.]*$/.exec(name);
  return m && m[1] && m[1] in INTERPRETERS ? m[1] : null;
}

/** `/usr/bin/rm` -> `rm`; null stays null. */
export function commandBase(value: string | null): string | null {
  if (value === null) return null;
  return value.includes('/') ? posix.basename(value) : value;
}

export const PACKAGE_MANAGERS = new Set(['npm', 'pnpm', 'yarn', 'bun']);

/** Programs that talk to the network (the default rules ask before any of them runs). */
export const NETWORK_CLIENTS = [
  'curl',
  'wget',
  'fetch',
  'aria2c',
  'http',
  'https',
  'xh',
  'curlie',
  'nc',
  'ncat',
  'netcat',
  'socat',
  'telnet',
  'ftp',
  'tftp',
  'lynx',
  'links',
  'w3m',
  'lwp-request',
] as const;

export const FETCHERS = new Set<string>([...NETWORK_CLIENTS, 'ssh', 'scp', 'sftp', 'rsync', 'gh', 'get']);

/** Producers whose output is decoded or transformed text: piped into a shell it is code nobody can read here. */
export const DECODERS = new Set([
  'base64',
  'base32',
  'basenc',
  'xxd',
  'od',
  'openssl',
  'uudecode',
  'gzip',
  'gunzip',
  'zcat',
  'bzcat',
  'xzcat',
  'zstdcat',
  'rev',
  'tr',
  'printf',
  'perl',
  'python',
  'python3',
  'sed',
  'awk',
  'iconv',
  'hexdump',
]);

/** make's (and GNU make's) options that take a value. */
const MAKE_OPTIONS = [
  '-f',
  '--file',
  '--makefile',
  '-C',
  '--directory',
  '-I',
  '--include-dir',
  '-o',
  '--old-file',
  '-W',
  '--what-if',
  '--new-file',
  '--assume-new',
  '--assume-old',
];

/** script(1)'s options that take a value (it runs a command, so it is a wrapper too). */
const SCRIPT_OPTIONS = [
  '-c',
  '--command',
  '-E',
  '--echo',
  '-T',
  '--log-timing',
  '-I',
  '-O',
  '-B',
  '--log-in',
  '--log-out',
  '--log-io',
];

/** Options (per command) that take the next word as their value, so that word is not an operand. */
const VALUE_OPTIONS: Record<string, string[]> = {
  git: [
    '-C',
    '-c',
    '--git-dir',
    '--work-tree',
    '--namespace',
    '--exec-path',
    '--config-env',
    '--config',
    '--separate-git-dir',
  ],
  docker: ['--context', '-c', '-H', '--host', '--config', '-l', '--log-level'],
  podman: ['--context', '-c', '-H', '--host', '--url', '--connection'],
  npm: ['-w', '--workspace', '--prefix', '-C'],
  pnpm: ['-C', '--dir', '-F', '--filter', '-w'],
  yarn: ['--cwd'],
  systemctl: ['-H', '--host', '-M', '--machine', '-t', '--type', '-s', '--signal', '-p', '--property'],
  cp: ['-t', '--target-directory', '-S', '--suffix'],
  mv: ['-t', '--target-directory', '-S', '--suffix'],
  ln: ['-t', '--target-directory', '-S', '--suffix'],
  install: ['-t', '--target-directory', '-m', '--mode', '-o', '--owner', '-g', '--group', '-S', '--suffix'],
  truncate: ['-s', '--size', '-r', '--reference'],
  touch: ['-d', '--date', '-t', '-r', '--reference'],
  mkdir: ['-m', '--mode'],
  chmod: ['--reference'],
  chown: ['--reference', '--from'],
  shred: ['-n', '--iterations', '-s', '--size', '--random-source'],
  sed: ['-e', '--expression', '-f', '--file', '-l', '--line-length'],
  tar: [
    '-f',
    '--file',
    '-C',
    '--directory',
    '-T',
    '--files-from',
    '-X',
    '--exclude-from',
    '-b',
    '-I',
    '--use-compress-program',
  ],
  unzip: ['-d', '-x'],
  zip: [
    '-b',
    '--temp-path',
    '-n',
    '--suffixes',
    '-t',
    '--from-date',
    '-tt',
    '--before-date',
    '-O',
    '--output-file',
    '-x',
    '--exclude',
    '-i',
    '--include',
    '-P',
    '--password',
    '-Z',
    '--compression-method',
  ],
  split: [
    '-a',
    '--suffix-length',
    '-b',
    '--bytes',
    '-C',
    '--line-bytes',
    '-l',
    '--lines',
    '-n',
    '--number',
    '-t',
    '--separator',
    '--additional-suffix',
    '--filter',
  ],
  csplit: ['-b', '--suffix-format', '-f', '--prefix', '-n', '--digits'],
  uniq: ['-f', '--skip-fields', '-s', '--skip-chars', '-w', '--check-chars'],
  sort: [
    '-o',
    '--output',
    '-k',
    '--key',
    '-t',
    '--field-separator',
    '-S',
    '--buffer-size',
    '-T',
    '--temporary-directory',
    '--compress-program',
    '--parallel',
    '--files0-from',
    '--random-source',
    '--batch-size',
  ],
  mkfifo: ['-m', '--mode', '-Z', '--context'],
  mknod: ['-m', '--mode', '-Z', '--context'],
  patch: [
    '-o',
    '--output',
    '-d',
    '--directory',
    '-i',
    '--input',
    '-p',
    '--strip',
    '-r',
    '--reject-file',
    '-B',
    '--prefix',
    '-Y',
    '--basename-prefix',
    '-z',
    '--suffix',
    '-D',
    '--ifdef',
    '-F',
    '--fuzz',
    '-V',
    '--version-control',
    '--quoting-style',
  ],
  ed: ['-p', '--prompt'],
  script: SCRIPT_OPTIONS,
  curl: [
    '-o',
    '--output',
    '-d',
    '--data',
    '--data-raw',
    '--data-binary',
    '-H',
    '--header',
    '-X',
    '--request',
    '-u',
    '--user',
    '-A',
    '--user-agent',
    '-e',
    '--referer',
    '-F',
    '--form',
    '-T',
    '--upload-file',
    '-x',
    '--proxy',
    '-m',
    '--max-time',
    '--connect-timeout',
    '-w',
    '--write-out',
    '-b',
    '--cookie',
    '-c',
    '--cookie-jar',
    '-K',
    '--config',
    '--retry',
    '-r',
    '--range',
    '--output-dir',
    '-D',
    '--dump-header',
    '--trace',
    '--trace-ascii',
    '--stderr',
    '--libcurl',
    '--etag-save',
    '--hsts',
    '--alt-svc',
  ],
  wget: [
    '-O',
    '--output-document',
    '-P',
    '--directory-prefix',
    '-o',
    '--output-file',
    '-a',
    '--append-output',
    '-U',
    '--user-agent',
    '--header',
    '-t',
    '--tries',
    '-T',
    '--timeout',
    '-e',
  ],
  rsync: ['-e', '--rsh', '--exclude', '--include', '--filter', '-f', '--port', '--password-file', '--log-file'],
  rm: [],
  make: MAKE_OPTIONS,
  gmake: MAKE_OPTIONS,
  find: [],
  kill: ['-s', '-n'],
  python: ['-m', '-W', '-X'],
  python3: ['-m', '-W', '-X'],
  python2: ['-m', '-W', '-X'],
  node: ['-r', '--require', '--import', '--loader'],
  ssh: [
    '-i',
    '-p',
    '-l',
    '-o',
    '-F',
    '-J',
    '-L',
    '-R',
    '-D',
    '-b',
    '-c',
    '-e',
    '-E',
    '-m',
    '-O',
    '-S',
    '-W',
    '-w',
    '-Q',
    '-B',
    '-I',
  ],
};

const optionTakesValue = (name: string, option: string): boolean => (VALUE_OPTIONS[name] ?? []).includes(option);

export interface SplitArgs {
  options: Word[];
  /** Option words paired with their values (`-o FILE`, `--output=FILE`). */
  optionValues: Map<string, Word[]>;
  operands: Word[];
}

/** Split words into options and operands; `--` ends options. Unknown words count as operands. */
export function splitArgs(name: string, args: Word[]): SplitArgs {
  const options: Word[] = [];
  const optionValues = new Map<string, Word[]>();
  const operands: Word[] = [];
  const add = (key: string, value: Word): void => {
    optionValues.set(key, [...(optionValues.get(key) ?? []), value]);
  };
  let ended = false;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    if (!word) continue;
    const text = single(word);
    if (ended || text === null || !text.startsWith('-') || text === '-') {
      operands.push(word);
      continue;
    }
    if (text === '--') {
      ended = true;
      continue;
    }
    options.push(word);
    const eq = text.indexOf('=');
    if (text.startsWith('--') && eq > 0) {
      add(text.slice(0, eq), literalWord(text.slice(eq + 1)));
      continue;
    }
    if (optionTakesValue(name, text)) {
      const value = args[i + 1];
      if (value) add(text, value);
      i++;
      continue;
    }
    // `-tDIR`, `-oFILE`, `-sSLo FILE`, `-rt DIR`: in a bundle of short options the first that takes
    // a value takes the rest of the bundle, or the next word when nothing is left (getopt).
    if (!text.startsWith('--') && text.length > 2) {
      for (let c = 1; c < text.length; c++) {
        const flag = `-${text[c]}`;
        if (!optionTakesValue(name, flag)) continue;
        const rest = text.slice(c + 1);
        if (rest !== '') add(flag, literalWord(rest));
        else {
          const value = args[i + 1];
          if (value) add(flag, value);
          i++;
        }
        break;
      }
    }
  }
  return { options, optionValues, operands };
}

/** Does any option word carry `flag`? `-f` is found in `-rf`; `--force` in `--force=x`. */
export function hasFlag(args: Word[], flag: string): boolean {
  for (const word of args) {
    for (const value of word.values ?? []) {
      if (value === '--') return false;
      if (value === flag) return true;
      if (flag.startsWith('--') && value.startsWith(`${flag}=`)) return true;
      if (
        /^-[A-Za-z]$/.test(flag) &&
        /^-[A-Za-z0-9]+$/.test(value) &&
        !value.startsWith('--') &&
        value.slice(1).includes(flag[1] ?? '')
      )
        return true;
    }
  }
  return false;
}

/** The first operand after a command's global options: `git -C x push` -> push. */
export function subcommandOf(name: string, args: Word[]): string | null {
  const { operands } = splitArgs(name, args);
  return single(operands[0]);
}

// ---- write targets ----

/** Commands that delete their operands (writing a git hook path is asked about; deleting one is not). */
export const DELETERS = new Set(['rm', 'rmdir', 'unlink', 'shred', 'rimraf', 'del', 'trash', 'srm', 'wipe']);
const ALL_OPERANDS = new Set([...DELETERS, 'truncate', 'touch', 'mkdir', 'tee', 'mv', 'chattr', 'setfacl', 'mkfifo']);
/** Compressors write `FILE.gz` beside each operand (and remove the operand) unless told to write stdout. */
export const COMPRESSORS = new Set([
  'gzip',
  'gunzip',
  'bzip2',
  'bunzip2',
  'xz',
  'unxz',
  'lzma',
  'unlzma',
  'zstd',
  'unzstd',
  'lz4',
  'lzip',
  'compress',
  'uncompress',
  'pigz',
  'unpigz',
]);
/** git subcommands that create a repository or a working tree at their operand. */
const GIT_CREATORS: Record<string, (operands: Word[]) => Word[]> = {
  init: (ops) => [ops[1] ?? literalWord('.')],
  clone: (ops) => (ops[2] ? [ops[2]] : [literalWord('.')]),
  worktree: (ops) => (single(ops[1]) === 'add' && ops[2] ? [ops[2]] : []),
  submodule: (ops) => (single(ops[1]) === 'add' && ops[3] ? [ops[3]] : []),
  bundle: (ops) => (single(ops[1]) === 'create' && ops[2] ? [ops[2]] : []),
};

/** The words a command writes, deletes, moves or changes the mode of. */
export function writeTargets(name: string, args: Word[]): Word[] {
  const { operands, optionValues } = splitArgs(name, args);
  const option = (...keys: string[]): Word[] => keys.flatMap((k) => optionValues.get(k) ?? []);
  if (ALL_OPERANDS.has(name)) return [...operands, ...option('-t', '--target-directory')];
  switch (name) {
    case 'chmod':
    case 'chown':
    case 'chgrp':
      // The first operand is the mode/owner unless --reference gives it.
      return optionValues.has('--reference') ? operands : operands.slice(1);
    case 'cp':
    case 'ln':
    case 'install':
    case 'rsync':
    case 'scp': {
      // `install -d A B`: every operand is a directory it creates.
      if (name === 'install' && (hasFlag(args, '-d') || hasFlag(args, '--directory')))
        return [...operands, ...option('-t', '--target-directory')];
      const target = option('-t', '--target-directory');
      if (target.length > 0) return target;
      const last = operands.length > 1 ? operands[operands.length - 1] : undefined;
      if (!last) return operands.length === 1 && name === 'ln' ? [literalWord('.')] : [];
      // `host:path` is remote: not a local write.
      if ((name === 'rsync' || name === 'scp') && /^[^/]*:/.test(single(last) ?? '')) return [];
      return [last];
    }
    case 'sed':
    case 'perl': {
      if (
        !hasFlag(args, '-i') &&
        !args.some((a) => (single(a) ?? '').startsWith('--in-place') || /^-i/.test(single(a) ?? ''))
      )
        return [];
      const scriptGiven =
        optionValues.has('-e') ||
        optionValues.has('--expression') ||
        optionValues.has('-f') ||
        optionValues.has('--file') ||
        (name === 'perl' && args.some((a) => /^-\w*e$/.test(single(a) ?? '')));
      return scriptGiven ? operands : operands.slice(1);
    }
    case 'dd':
      return args.filter((a) => (single(a) ?? a.text).startsWith('of=')).map((a) => withoutPrefix(a, 'of='));
    case 'tar':
    case 'gtar':
    case 'bsdtar': {
      const first = single(args[0]) ?? '';
      const mode = first.startsWith('-') ? first : `-${first}`;
      const extracting =
        /^-[A-Za-z]*x/.test(mode) || hasFlag(args, '-x') || hasFlag(args, '--extract') || hasFlag(args, '--get');
      const creating =
        /^-[A-Za-z]*[cru]/.test(mode) ||
        hasFlag(args, '-c') ||
        hasFlag(args, '-r') ||
        hasFlag(args, '-u') ||
        hasFlag(args, '-A') ||
        hasFlag(args, '--create') ||
        hasFlag(args, '--append') ||
        hasFlag(args, '--update') ||
        hasFlag(args, '--delete');
      if (extracting)
        return option('-C', '--directory').concat(option('-C', '--directory').length ? [] : [literalWord('.')]);
      if (creating) {
        const file = option('-f', '--file');
        if (file.length > 0) return file;
        // A bundle holding f (`-cf out.tar`, `-czvf`): f takes the next word, the first operand;
        // in the old style (`tar czf out.tgz src`) the bundle is itself operand 0, so operand 1.
        const bundle = args.map((a) => single(a) ?? '').find((t) => /^-[A-Za-z]*f[A-Za-z]*$/.test(t));
        if (bundle !== undefined) return operands[0] ? [operands[0]] : [];
        if (!first.startsWith('-') && /f/.test(first) && operands[1]) return [operands[1]];
        return [];
      }
      return [];
    }
    case 'zip': {
      // `zip [opts] ARCHIVE files…`; `-O`/`--output-file` writes elsewhere.
      const out = option('-O', '--output-file');
      return operands[0] ? [operands[0], ...out] : out;
    }
    case 'split':
      // `split [opts] [INPUT [PREFIX]]`: the pieces are PREFIXaa, PREFIXab… (default `x` here).
      return operands[1] ? [operands[1]] : [];
    case 'csplit':
      return option('-f', '--prefix');
    case 'sort':
      // `-o FILE`, also inside a bundle (`-uo FILE`).
      return option('-o', '--output');
    case 'uniq':
      // `uniq [opts] [INPUT [OUTPUT]]`
      return operands[1] ? [operands[1]] : [];
    case 'mknod':
      return operands[0] ? [operands[0]] : [];
    case 'link':
      return operands[1] ? [operands[1]] : [];
    case 'sqlite3':
    case 'ed':
    case 'red':
      return operands[0] ? [operands[0]] : [];
    case 'patch':
      // The files a patch changes are named inside it; `-o` and `-d` at least are known.
      return [...option('-o', '--output'), ...option('-d', '--directory'), ...option('-r', '--reject-file')];
    case 'git': {
      // `init DIR`, `clone URL DIR`, `worktree add DIR`, read from `-C DIR` when given. (Where git
      // runs, -C/--git-dir/--work-tree, is judged by gitPlace: another repository's config runs programs.)
      const sub = single(operands[0]);
      const made = sub !== null && GIT_CREATORS[sub] ? (GIT_CREATORS[sub] as (ops: Word[]) => Word[])(operands) : [];
      const dir = option('-C').at(-1);
      const base = dir === undefined ? '' : single(dir);
      const relocated = made.map((w) => {
        const v = single(w);
        if (dir === undefined || (v !== null && v.startsWith('/'))) return w;
        return base === null || v === null
          ? unknownWord(`${dir.text}/${w.text}`)
          : literalWord(`${base.replace(/\/$/, '')}/${v}`);
      });
      return [...relocated, ...option('--separate-git-dir'), ...genericOutputs(args)];
    }
    case 'unzip':
      return option('-d').length ? option('-d') : [literalWord('.')];
    case 'curl': {
      const out = option(
        '-o',
        '--output',
        '-D',
        '--dump-header',
        '-c',
        '--cookie-jar',
        '--trace',
        '--trace-ascii',
        '--stderr',
        '--libcurl',
        '--etag-save',
        '--hsts',
        '--alt-svc',
      ).filter((w) => single(w) !== '-');
      const dir = option('--output-dir');
      const remoteName =
        hasFlag(args, '-O') ||
        hasFlag(args, '--remote-name') ||
        hasFlag(args, '--remote-name-all') ||
        hasFlag(args, '-J');
      return [...out, ...dir, ...(remoteName && dir.length === 0 ? [literalWord('.')] : [])];
    }
    case 'wget': {
      const out = option('-O', '--output-document', '-o', '--output-file', '-a', '--append-output').filter(
        (w) => single(w) !== '-',
      );
      const dir = option('-P', '--directory-prefix');
      return [...out, ...dir];
    }
    default:
      if (COMPRESSORS.has(name)) {
        const toStdout = ['-c', '--stdout', '--to-stdout', '-t', '--test', '-l', '--list'].some((f) =>
          hasFlag(args, f),
        );
        return toStdout ? genericOutputs(args) : [...operands, ...genericOutputs(args)];
      }
      return genericOutputs(args);
  }
}

/** Options that name an output file or directory in many tools (`gcc -o`, `sort -o`, `tsc --outDir`, `pip --target`). */
const OUTPUT_OPTIONS = new Set([
  '-o',
  '--output',
  '--out',
  '--outfile',
  '--out-file',
  '--outdir',
  '--outDir',
  '--out-dir',
  '--output-dir',
  '--output-file',
  '--output-document',
  '--prefix',
  '--target',
  '--dest',
  '--destination',
  '--install-dir',
  '--root',
  '--log-file',
  '--logfile',
  '--cache-dir',
  '--target-dir',
  '--dump-header',
  '--result-file',
  '--pack-destination',
  '-out',
  '-keyout',
]);

export function genericOutputs(args: Word[]): Word[] {
  const out: Word[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as Word;
    const text = single(word);
    if (text === null) {
      // `--output=$X`: an output whose name is unknown.
      if (
        word.values === null &&
        /^--?[A-Za-z-]*=?$/.test(word.prefix) &&
        OUTPUT_OPTIONS.has(word.prefix.replace(/=$/, ''))
      )
        out.push({ ...word, prefix: '' });
      continue;
    }
    if (text === '--') break;
    const eq = text.indexOf('=');
    if (text.startsWith('--') && eq > 0 && OUTPUT_OPTIONS.has(text.slice(0, eq)))
      out.push(literalWord(text.slice(eq + 1)));
    else if (OUTPUT_OPTIONS.has(text) && args[i + 1]) out.push(args[i + 1] as Word);
    // `-oFILE` (gcc, sort, patch): a glued short output option.
    else if (/^-o[^-]/.test(text) && !text.startsWith('--')) out.push(literalWord(text.slice(2)));
  }
  return out;
}

function withoutPrefix(word: Word, prefix: string): Word {
  if (word.values === null) return { ...word, prefix: word.prefix.slice(prefix.length) };
  return { ...word, values: word.values.map((v) => v.slice(prefix.length)) };
}

// ---- wrappers ----

export interface Unwrapped {
  /** The wrapped command's words (name first), or null when the wrapper runs nothing. */
  words: Word[] | null;
  /** The wrapper runs its words as shell code (`watch "a; b"`, `env -S`), not as argv. */
  asScript?: boolean;
  /** Assignments the wrapper makes (`env HISTFILE=/dev/null cmd`). */
  assignments?: [string, Word][];
}

const WRAPPER_VALUE_OPTIONS: Record<string, string[]> = {
  env: ['-u', '--unset', '-C', '--chdir'],
  nice: ['-n', '--adjustment'],
  timeout: ['-s', '--signal', '-k', '--kill-after'],
  stdbuf: ['-i', '-o', '-e', '--input', '--output', '--error'],
  watch: ['-n', '--interval', '-q', '--equexit'],
  ionice: ['-c', '-n', '-p', '-P', '-u', '--class', '--classdata'],
  time: ['-f', '--format', '-o', '--output'],
  exec: ['-a'],
  strace: ['-o', '-e', '-p', '-s', '-u', '-E', '-P', '-b', '-I', '-O', '-S', '-X'],
  ltrace: ['-o', '-e', '-p', '-s', '-u', '-n'],
  npx: ['-p', '--package', '--call', '-c'],
  bunx: ['-p', '--package'],
  flock: ['-w', '--timeout', '-E', '--conflict-exit-code'],
  caffeinate: ['-t', '-w'],
  chronic: [],
  script: SCRIPT_OPTIONS,
  nohup: [],
  setsid: [],
  builtin: [],
  command: [],
  unbuffer: [],
  sudo: [
    '-u',
    '--user',
    '-g',
    '--group',
    '-C',
    '-D',
    '--chdir',
    '-h',
    '--host',
    '-p',
    '--prompt',
    '-r',
    '--role',
    '-t',
    '--type',
    '-U',
    '--other-user',
    '-T',
    '--command-timeout',
  ],
  doas: ['-u', '-C'],
  taskset: [],
  xargs: [
    '-a',
    '--arg-file',
    '-d',
    '--delimiter',
    '-E',
    '-e',
    '-I',
    '-L',
    '-l',
    '-n',
    '--max-args',
    '-P',
    '--max-procs',
    '-s',
    '--max-chars',
    '--process-slot-var',
  ],
  parallel: ['-j', '--jobs', '-S', '--sshlogin', '--joblog', '-a', '--arg-file', '-d', '--delimiter', '-I', '-n', '-N'],
};

export const WRAPPERS = new Set(Object.keys(WRAPPER_VALUE_OPTIONS));

/**
 * The command a wrapper runs. `xargs rm` becomes `rm <xargs input>`, the input an unknown word
 * assumed to lie outside the sandbox.
 */
export function unwrap(name: string, args: Word[]): Unwrapped | null {
  if (!WRAPPERS.has(name)) return null;
  const valueOptions = WRAPPER_VALUE_OPTIONS[name] ?? [];
  const assignments: [string, Word][] = [];
  let i = 0;
  let splitString: Word | null = null;
  for (; i < args.length; i++) {
    const word = args[i];
    if (!word) break;
    const text = single(word);
    if (text === null) break;
    if (text === '--') {
      i++;
      break;
    }
    // env takes any word with `=` as an assignment, `BASH_FUNC_x%%=() {…}` (an exported function) included.
    if (name === 'env' && /^[^-=][^=]*=/.test(text)) {
      const eq = text.indexOf('=');
      assignments.push([text.slice(0, eq), literalWord(text.slice(eq + 1))]);
      continue;
    }
    if (
      name === 'env' &&
      (text === '-S' ||
        text === '--split-string' ||
        text.startsWith('--split-string=') ||
        (text.startsWith('-S') && text.length > 2))
    ) {
      if (text === '-S' || text === '--split-string') splitString = args[++i] ?? null;
      else splitString = literalWord(text.startsWith('-S') ? text.slice(2) : text.slice(text.indexOf('=') + 1));
      i++;
      break;
    }
    if (name === 'script' && (/^-[a-zA-Z]*c$/.test(text) || text === '--command')) {
      return { words: args[i + 1] ? [args[i + 1] as Word] : null, asScript: true };
    }
    if (name === 'npx' && (text === '-c' || text === '--call')) {
      return { words: args[i + 1] ? [args[i + 1] as Word] : null, asScript: true };
    }
    if (!text.startsWith('-') || (name === 'nice' && /^-\d+$/.test(text))) {
      if (name === 'nice' && /^-\d+$/.test(text)) continue;
      break;
    }
    if (valueOptions.includes(text)) i++;
    if (
      (name === 'command' && (text === '-v' || text === '-V')) ||
      (name === 'sudo' && (text === '-l' || text === '-v' || text === '-k'))
    )
      return { words: null };
  }
  let rest = args.slice(i);
  if (splitString) rest = [splitString, ...rest];
  // Positional values before the command.
  if (name === 'timeout' && rest.length > 0) rest = rest.slice(1);
  if (name === 'taskset' && rest.length > 0) rest = rest.slice(1);
  if (name === 'flock' && rest.length > 0) {
    rest = rest.slice(1);
    const flag = single(rest[0]);
    if (flag === '-c' || flag === '--command') return { words: rest.slice(1, 2), asScript: true };
  }
  if (rest.length === 0) {
    if (name === 'xargs' || name === 'parallel')
      return { words: [literalWord('echo'), unknownWord('<xargs input>', true)] };
    return { words: null, assignments };
  }
  if (splitString || (name === 'watch' && !args.some((a) => single(a) === '-x' || single(a) === '--exec'))) {
    return { words: rest, asScript: true, assignments };
  }
  if (name === 'xargs' || name === 'parallel') {
    const parallelInputs = rest.findIndex((w) => [':::', '::::', ':::+'].includes(single(w) ?? ''));
    const command = parallelInputs >= 0 ? rest.slice(0, parallelInputs) : rest;
    const inputs = parallelInputs >= 0 ? rest.slice(parallelInputs + 1) : [unknownWord('<xargs input>', true)];
    const replace = optionValueOf(args.slice(0, i), ['-I', '-i']) ?? (name === 'parallel' ? '{}' : null);
    if (replace !== null && command.some((w) => (single(w) ?? '').includes(replace))) {
      return {
        words: command.map((w) =>
          (single(w) ?? '').includes(replace) ? (inputs[0] ?? unknownWord('<xargs input>', true)) : w,
        ),
        assignments,
      };
    }
    return { words: [...command, ...inputs], assignments };
  }
  return { words: rest, assignments };
}

function optionValueOf(args: Word[], keys: string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const text = single(args[i]) ?? '';
    for (const key of keys) {
      if (text === key) return single(args[i + 1]) ?? null;
      if (text.startsWith(key) && text.length > key.length) return text.slice(key.length);
    }
    if (text === '-i') return '{}';
  }
  return null;
}

/** `find` split into its roots, whether it deletes, and its `-exec`/`-ok` commands with `{}` set to the roots. */
export function findParts(args: Word[]): { roots: Word[]; deletes: boolean; execs: Word[][]; outputs: Word[] } {
  const roots: Word[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const text = single(args[i]);
    if (text !== null && (text.startsWith('-') || text === '(' || text === '!' || text === '\\(')) break;
    if (args[i]) roots.push(args[i] as Word);
  }
  if (roots.length === 0) roots.push(literalWord('.'));
  let deletes = false;
  const execs: Word[][] = [];
  const outputs: Word[] = [];
  for (; i < args.length; i++) {
    const text = single(args[i]);
    if (text === '-delete') deletes = true;
    // `-fprint FILE`, `-fprint0 FILE`, `-fls FILE`, `-fprintf FILE FORMAT` write FILE.
    if ((text === '-fprint' || text === '-fprint0' || text === '-fls' || text === '-fprintf') && args[i + 1]) {
      outputs.push(args[i + 1] as Word);
      i += text === '-fprintf' ? 2 : 1;
      continue;
    }
    if (text === '-exec' || text === '-execdir' || text === '-ok' || text === '-okdir') {
      const command: Word[] = [];
      for (i++; i < args.length; i++) {
        const part = single(args[i]);
        if (part === ';' || part === '+') break;
        const word = args[i] as Word;
        if (part !== null && part.includes('{}')) {
          // `{}` is a path under each root.
          for (const root of roots) {
            const base = single(root);
            command.push(base === null ? root : literalWord(part.replaceAll('{}', `${base.replace(/\/$/, '')}/found`)));
          }
        } else command.push(word);
      }
      if (command.length > 0) execs.push(command);
    }
  }
  return { roots, deletes, execs, outputs };
}
