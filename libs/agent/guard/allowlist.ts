import { hasFlag, splitArgs, writeTargets } from './commandFacts.ts';
import { placesOf } from './paths.ts';
import type { PathContext } from './paths.ts';
import { awkRuns, sedRunsOrWrites } from './programText.ts';
import { single } from './words.ts';
import type { Word } from './words.ts';

/**
 * Where no OS sandbox holds the agent's commands, the guard allows only what it can show to be
 * harmless (as Codex CLI's safe commands): reading inside the workspace, with every path known.
 * Everything else is asked about. The walk still judges everything else first (denies stay
 * denies); this is the extra condition, applied to each simple command after unwrapping.
 */

/** Commands that read files and print, and change nothing; each path they are given must lie in the sandbox. */
const READERS = new Set([
  'ls',
  'cat',
  'head',
  'tail',
  'wc',
  'grep',
  'egrep',
  'fgrep',
  'rg',
  'diff',
  'cmp',
  'comm',
  'cut',
  'tr',
  'sort',
  'uniq',
  'nl',
  'file',
  'stat',
  'du',
  'tree',
  'realpath',
  'readlink',
  'md5sum',
  'sha1sum',
  'sha256sum',
  'sha512sum',
  'b2sum',
  'cksum',
  'od',
  'hexdump',
  'strings',
  'column',
  'fold',
  'paste',
  'join',
  'rev',
  'tac',
  'expand',
  'unexpand',
  'fmt',
  'find',
  'sed',
  'awk',
  'gawk',
  'mawk',
  'nawk',
  'git',
  'source',
  '.',
]);

/** Builtins and commands that open no file named by their arguments. */
export const NO_FILES = new Set([
  'echo',
  'printf',
  'true',
  'false',
  ':',
  'test',
  '[',
  'pwd',
  'cd',
  'pushd',
  'popd',
  'dirs',
  'basename',
  'dirname',
  'which',
  'type',
  'whoami',
  'id',
  'uname',
  'date',
  'seq',
  'sleep',
  'expr',
  'set',
  'shopt',
  'export',
  'unset',
  'wait',
  'exit',
  'return',
  'shift',
  'break',
  'continue',
  'trap',
  'read',
  'local',
  'declare',
  'typeset',
  'let',
  'umask',
  'getopts',
]);

/** Wrappers that only change how the wrapped command runs; the wrapped command is judged on its own. */
const SAFE_WRAPPERS = new Set(['time', 'nice', 'timeout', 'nohup', 'command', 'stdbuf', 'builtin']);

/** git subcommands that only read the repository. */
const GIT_READERS = new Set([
  'status',
  'log',
  'diff',
  'show',
  'blame',
  'grep',
  'ls-files',
  'ls-tree',
  'rev-parse',
  'describe',
  'shortlog',
  'cat-file',
  'rev-list',
  'diff-tree',
  'diff-index',
  'diff-files',
  'merge-base',
  'name-rev',
  'show-ref',
  'for-each-ref',
  'whatchanged',
  'branch',
  'tag',
  'remote',
  'stash',
  'reflog',
  'version',
  'help',
]);
/** `git branch`/`tag`/`remote`/`stash`/`reflog` only when listing. */
const GIT_LISTING: Record<string, RegExp> = {
  branch:
    /^(-a|-r|-v|-vv|-l|--list|--all|--remotes|--verbose|--show-current|--no-color|--color|--merged|--no-merged|--contains|--sort=.*|--format=.*)$/,
  tag: /^(-l|--list|-n\d*|--sort=.*|--contains|--merged|--points-at|--format=.*)$/,
  remote: /^(-v|--verbose|show|get-url)$/,
  stash: /^(list|show|-p|--stat)$/,
  reflog: /^(show|-n\d*|--oneline)$/,
};

/** Operand positions that are program text or patterns, not files: grep's pattern, sed's script. */
function patternOperands(name: string, args: Word[]): number {
  const given = (...flags: string[]): boolean => flags.some((f) => hasFlag(args, f));
  if (['grep', 'egrep', 'fgrep', 'rg'].includes(name)) return given('-e', '--regexp', '-f', '--file') ? 0 : 1;
  if (name === 'sed') return given('-e', '--expression', '-f', '--file') ? 0 : 1;
  if (/^[gmn]?awk$/.test(name)) return given('-f', '--file') ? 0 : 1;
  if (name === 'tr') return Number.POSITIVE_INFINITY;
  return 0;
}

/** Options that take the next word as a value for these readers (the value is judged like a path). */
const READER_VALUE_OPTIONS: Record<string, string[]> = {
  head: ['-n', '-c', '--lines', '--bytes'],
  tail: ['-n', '-c', '--lines', '--bytes', '-s', '--sleep-interval', '--pid'],
  grep: [
    '-e',
    '--regexp',
    '-f',
    '--file',
    '-m',
    '--max-count',
    '-A',
    '-B',
    '-C',
    '--include',
    '--exclude',
    '--exclude-dir',
    '--color',
    '--label',
  ],
  rg: [
    '-e',
    '--regexp',
    '-f',
    '--file',
    '-g',
    '--glob',
    '-t',
    '--type',
    '-T',
    '--type-not',
    '-m',
    '--max-count',
    '-A',
    '-B',
    '-C',
    '-M',
    '--max-columns',
    '-j',
    '--threads',
    '--max-depth',
    '-d',
    '--sort',
    '--sortr',
    '--color',
    '--colors',
    '-r',
    '--replace',
    '--type-add',
  ],
  cut: ['-d', '-f', '-b', '-c', '--delimiter', '--fields', '--bytes', '--characters'],
  sort: ['-k', '--key', '-t', '--field-separator', '-S', '--buffer-size', '-T', '--temporary-directory', '--parallel'],
  uniq: ['-f', '-s', '-w'],
  find: [
    '-name',
    '-iname',
    '-path',
    '-ipath',
    '-regex',
    '-iregex',
    '-type',
    '-maxdepth',
    '-mindepth',
    '-newer',
    '-mtime',
    '-mmin',
    '-size',
    '-perm',
    '-user',
    '-group',
    '-printf',
    '-wholename',
    '-iwholename',
  ],
  du: ['-d', '--max-depth', '--exclude'],
  tree: ['-L', '-I', '-P', '--charset'],
  ls: ['-I', '--ignore', '--hide', '--sort', '--format', '--time-style', '--color', '-w', '--width'],
  diff: ['-U', '-C', '--unified', '--context', '-x', '--exclude', '-I', '--ignore-matching-lines', '--label'],
  column: ['-t', '-s', '-c', '-o'],
  nl: ['-s', '-w', '-b', '-n', '-v', '-i'],
  od: ['-A', '-t', '-N', '-j', '-w'],
  hexdump: ['-n', '-s', '-e'],
  fold: ['-w'],
  paste: ['-d'],
  join: ['-t', '-1', '-2', '-o', '-j'],
  stat: ['-c', '--format', '--printf'],
  strings: ['-n', '-t'],
  sed: ['-e', '--expression', '-l'],
  awk: ['-F', '-v', '-e'],
  gawk: ['-F', '-v', '-e'],
  mawk: ['-F', '-v'],
  nawk: ['-F', '-v'],
  git: [
    '-n',
    '--max-count',
    '--since',
    '--until',
    '--author',
    '--grep',
    '--format',
    '--pretty',
    '-U',
    '--skip',
    '-S',
    '-G',
    '--date',
    '-L',
    '--abbrev',
  ],
};

/**
 * null when `name args` (one simple command, after unwrapping) is harmless to run without OS
 * isolation; otherwise why not, for the verdict.
 */
export function notIsolatedReason(
  name: string,
  args: Word[],
  ctx: PathContext,
  kind: 'wrapper' | 'shell' | 'plain',
): string | null {
  if (kind === 'wrapper')
    return SAFE_WRAPPERS.has(name) ? null : `${name} runs another command in a way the guard cannot show harmless`;
  if (kind === 'shell') {
    // `bash -c 'literal'`, `sh script.sh`: the code is judged by these same rules; only plain options.
    const options = args.map((a) => single(a)).filter((t) => t === null || /^[-+]/.test(t));
    return options.every((t) => t !== null && /^(-[ceuxvo]+|\+[euxv]+|--)$/.test(t))
      ? null
      : `${name} is started with options that read other files or are unknown`;
  }
  if (NO_FILES.has(name)) {
    if (name === 'date' && args.some((a) => /^(-s|--set)/.test(single(a) ?? ''))) return 'sets the clock';
    return null;
  }
  if (!READERS.has(name)) return `${name} is not one of the read-only commands allowed without an OS sandbox`;
  if (
    ctx.cwd === null ||
    !inside({ values: [ctx.cwd], glob: false, prefix: '', substitution: false, text: ctx.cwd }, ctx)
  )
    return 'it runs in a directory outside the sandbox or not known before it runs';
  const fail = checkReader(name, args);
  if (fail) return fail;
  // Every path it is given (and every option value that looks like one) must lie inside the sandbox.
  const skip = patternOperands(name, args);
  const valueOptions = READER_VALUE_OPTIONS[name] ?? [];
  let operand = 0;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as Word;
    const text = single(word);
    if (text === '--') continue;
    if (text !== null && text.startsWith('-') && text !== '-') {
      const eq = text.indexOf('=');
      const value = eq > 0 ? text.slice(eq + 1) : null;
      if (
        value !== null &&
        value.includes('/') &&
        !inside({ values: [value], glob: /[*?[]/.test(value), prefix: '', substitution: false, text: value }, ctx)
      )
        return `reads ${value}, outside the sandbox`;
      if (valueOptions.includes(text)) {
        const next = args[i + 1];
        i++;
        if (next && ['-f', '--file'].includes(text) && !inside(next, ctx))
          return `reads ${next.text}, outside the sandbox`;
        if (next && next.values === null) return 'an option value not known before it runs';
      }
      continue;
    }
    if (word.values === null && /^[<>]\(/.test(word.text)) continue; // a pipe from a command judged on its own
    if (word.values === null) return `${word.text} is not known before it runs`;
    if (name === 'find' && text !== null && /^[!()]$|^\\[()]$/.test(text)) continue;
    if (operand++ < skip) continue;
    if (name === 'git' && text !== null && !text.includes('/') && !text.startsWith('.')) continue;
    if (!inside(word, ctx)) return `reads ${word.text}, outside the sandbox or not known before it runs`;
  }
  return null;
}

function inside(word: Word, ctx: PathContext): boolean {
  const places = placesOf(word, ctx);
  return places.length === 0 || places.every((p) => p === 'inside' || p === 'sandboxRoot');
}

/** Per-command conditions for staying read-only. */
function checkReader(name: string, args: Word[]): string | null {
  const texts = args.map((a) => single(a) ?? '');
  if (writeTargets(name, args).length > 0) return `${name} writes files`;
  switch (name) {
    case 'sort':
      if (texts.some((t) => t.startsWith('--compress-program'))) return 'sort runs a compress program';
      return null;
    case 'find':
      if (texts.some((t) => /^-(exec|execdir|ok|okdir|delete|fprint|fprint0|fprintf|fls)$/.test(t)))
        return 'find runs commands, deletes or writes files';
      return null;
    case 'sed':
      if (hasFlag(args, '-i') || texts.some((t) => t.startsWith('--in-place')) || sedRunsOrWrites(args))
        return 'sed edits files or runs commands';
      return null;
    case 'awk':
    case 'gawk':
    case 'mawk':
    case 'nawk': {
      const program = splitArgs(name, args).operands[0];
      const text = single(program) ?? '';
      if (awkRuns(args) || hasFlag(args, '-f') || /[>|]|system|getline|ENVIRON|@load/.test(text))
        return 'the awk program writes, pipes or runs commands';
      return null;
    }
    case 'rg':
      if (texts.some((t) => /^(--pre|--pre-glob|-z|--search-zip)(=|$)/.test(t))) return 'rg runs preprocessors';
      return null;
    case 'grep':
    case 'egrep':
    case 'fgrep':
    case 'git': {
      if (name !== 'git') return null;
      const { operands } = splitArgs('git', args);
      const sub = single(operands[0]);
      if (sub === null || !GIT_READERS.has(sub))
        return `git ${sub ?? ''} is not a read-only git command`.replace('  ', ' ');
      if (
        texts.some((t) =>
          /^(-c|--config-env|--exec-path|--ext-diff|--textconv|-O|--open-files-in-pager|--output|--git-dir|--work-tree)(=|$)|^-c./.test(
            t,
          ),
        )
      )
        return 'git is given options that run programs or write';
      const listing = GIT_LISTING[sub];
      if (sub === 'stash' && operands.length < 2) return 'git stash changes the working tree';
      if (listing && operands.slice(1).some((o) => !listing.test(single(o) ?? '')))
        return `git ${sub} changes something`;
      if (listing && texts.some((t) => t.startsWith('-') && !listing.test(t))) return `git ${sub} changes something`;
      return null;
    }
    default:
      return null;
  }
}
